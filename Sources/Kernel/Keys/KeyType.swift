//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// A key type: a plug-in that gives keys of one kind their payload rules (Linux `struct key_type`,
/// `include/linux/key-type.h`; `Documentation/security/keys/core.rst` "Defining a key type").
///
/// Register one with ``KeyRetentionService/register(_:)`` from a subsystem's start-up. Every operation
/// but ``instantiate(_:_:kernel:)`` has a default; the optional Linux operations are separate protocols:
/// a type that can be updated conforms to ``UpdatableKeyType`` (without it `keyctl update` is
/// EOPNOTSUPP and `add_key` of an existing description makes a new key), and a type whose payload may be
/// read conforms to ``ReadableKeyType``. A type whose payload must never leave the kernel (`logon`,
/// `mktme`) simply does not conform: `keyctl read` is then EOPNOTSUPP.
///
/// Call order, as in `security/keys/key.c`:
/// - add: ``vetDescription(_:)`` → ``preparse(_:kernel:)`` → quota checks → ``instantiate(_:_:kernel:)``
///   (or, for an existing key of the same type and description in the keyring, `update`);
/// - update: ``preparse(_:kernel:)`` → quota check → `update`;
/// - revoke: ``revoke(_:kernel:)`` once, when the key is revoked;
/// - destroy: ``destroy(_:kernel:)`` once, when the garbage collector frees the key — the place to drop
///   whatever the type holds for it (a KeyID reference, kernel memory).
///
/// Types run inside the kernel and are trusted: they receive the `Kernel` and may use kernel memory,
/// the processor interface and ``KeyRetentionService/modifyPayload(of:_:)``. They must validate
/// before changing anything and throw errno-coded ``HWKeysError``s.
public protocol KeyType: AnyObject {
    /// The type name user space passes to `add_key` (at most 31 bytes, not starting with `.`).
    var name: String { get }

    /// Checks a description before a key is created (Linux `->vet_description`); throw EINVAL to refuse.
    func vetDescription(_ description: String) throws(HWKeysError)

    /// Parses and checks a payload before anything changes (Linux `->preparse`). Set
    /// ``KeyPreparsedPayload/quotaLength`` to the bytes to charge (the default charges the payload's
    /// length) and keep parsed values in ``KeyPreparsedPayload/attributes`` or
    /// ``KeyPreparsedPayload/material``. The caller's credentials are in the preparsed payload
    /// (CAP_SYS_RESOURCE is `credentials.isPrivileged`). Throw EINVAL for a bad payload, EACCES or EPERM
    /// for a caller who may not.
    func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError)

    /// Gives a new key its payload (Linux `->instantiate`): set `key.payload` (data in kernel memory via
    /// `Kernel.storeInKernelMemory`, non-secret attributes). The service sets `payload.dataLength` to
    /// the preparsed quota length afterwards. Throw to refuse; the key is then never created.
    func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError)

    /// Called once when the key is revoked (Linux `->revoke`). The default does nothing; a type may free
    /// its payload early and set `key.payload.dataLength` lower (never higher) to release quota.
    func revoke(_ key: inout Key, kernel: Kernel)

    /// Called once when the key is destroyed by the garbage collector (Linux `->destroy`). The default
    /// zeroes and frees `key.payload.data` (`kfree_sensitive`).
    func destroy(_ key: Key, kernel: Kernel)

    /// The text `/proc/keys` shows after the key's columns (Linux `->describe`). Never payload bytes.
    func describe(_ key: Key) -> String
}

/// A key type whose keys can be updated in place (Linux `->update`).
public protocol UpdatableKeyType: KeyType {
    /// Replaces the payload of `key` with the preparsed one: free the old kernel memory, store the new.
    /// May also change `key.expiry` (Linux `user_update` resets it). Throw EBUSY to refuse while the key
    /// is in use, or any other errno; nothing has changed when it throws.
    func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError)
}

/// A key type whose payload user space may read (Linux `->read`).
public protocol ReadableKeyType: KeyType {
    /// The payload as `keyctl read` returns it, copied out of kernel memory.
    func read(_ key: Key, kernel: Kernel) throws(HWKeysError) -> SecretBytes
}

extension KeyType {
    public func vetDescription(_ description: String) throws(HWKeysError) {}

    public func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        prep.quotaLength = prep.data.count
    }

    public func revoke(_ key: inout Key, kernel: Kernel) {}

    public func destroy(_ key: Key, kernel: Kernel) {
        if let data = key.payload.data { kernel.freeKernelMemory(data) }
    }

    public func describe(_ key: Key) -> String { key.description }
}

/// A payload on its way into a key (Linux `struct key_preparsed_payload`): what user space passed, who
/// passed it, and what ``KeyType/preparse(_:kernel:)`` made of it.
public struct KeyPreparsedPayload {
    /// The description the key will have.
    public let description: String
    /// The payload as passed (secret: never log it, never keep it outside kernel memory).
    public let data: SecretBytes
    /// The caller's credentials (CAP_SYS_RESOURCE and CAP_SYS_ADMIN are `isPrivileged`).
    public let credentials: Credentials
    /// The calling process.
    public let pid: Int32
    /// Bytes to charge to the owner's quota for the payload (`prep->quotalen`); preparse sets it.
    public var quotaLength: Int
    /// Parsed, non-secret values for instantiate or update.
    public var attributes: [String: String] = [:]
    /// Parsed secret values for instantiate or update (e.g. a decoded key), if the type wants them.
    public var material: SecretBytes?

    public init(description: String, data: SecretBytes, credentials: Credentials, pid: Int32) {
        self.description = description
        self.data = data
        self.credentials = credentials
        self.pid = pid
        self.quotaLength = 0
    }
}
