//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// A key's permission mask, with Linux's bit layout (`include/uapi/linux/keyctl.h`, `include/linux/key.h`):
/// four bytes for possessor, user, group and other, each holding view, read, write, search, link and
/// setattr.
///
/// ```
/// 0x3f010000  =  possessor: all  |  user: view  |  group: -  |  other: -
/// ```
///
/// The possessor bits are added to whichever of user, group or other applies (see
/// ``KeyRetentionService/permitted(_:_:possessed:_:)``); root gets no bypass, as in Linux.
public struct KeyPermissions: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `KEY_OTH_VIEW` … `KEY_OTH_SETATTR`: one category's bits, in the "other" position.
    public static let view: UInt32 = 0x01
    public static let read: UInt32 = 0x02
    public static let write: UInt32 = 0x04
    public static let search: UInt32 = 0x08
    public static let link: UInt32 = 0x10
    public static let setattr: UInt32 = 0x20
    /// `KEY_OTH_ALL`.
    public static let all: UInt32 = 0x3F

    /// `KEY_POS_ALL | KEY_USR_ALL | KEY_GRP_ALL | KEY_OTH_ALL`: every bit a mask may hold.
    public static let validBits: UInt32 = 0x3F3F_3F3F

    /// The shift of each category's byte.
    public enum Category: UInt32, Sendable, CaseIterable {
        case possessor = 24
        case user = 16
        case group = 8
        case other = 0
    }

    /// `bits` (e.g. ``view`` | ``read``) for `category`.
    public static func bits(_ bits: UInt32, for category: Category) -> UInt32 { bits << category.rawValue }

    /// The six bits of `category`.
    public func bits(of category: Category) -> UInt32 { (rawValue >> category.rawValue) & Self.all }

    // MARK: Linux default masks

    /// What `add_key` gives a new key when the caller does not choose (`key_create_or_update` in
    /// `security/keys/key.c`): possessor view, search, link and setattr, user view; possessor read if the
    /// type can be read; possessor write if the type can be updated or is a keyring.
    static func defaultMask(readable: Bool, writable: Bool) -> KeyPermissions {
        var mask = bits(view | search | link | setattr, for: .possessor) | bits(view, for: .user)
        if readable { mask |= bits(read, for: .possessor) }
        if writable { mask |= bits(write, for: .possessor) }
        return KeyPermissions(rawValue: mask)
    }

    /// A session keyring: `KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ` (`security/keys/process_keys.c`).
    public static let sessionKeyring = KeyPermissions(rawValue: 0x3F03_0000)
    /// A process keyring: `KEY_POS_ALL | KEY_USR_VIEW`.
    public static let processKeyring = KeyPermissions(rawValue: 0x3F01_0000)
    /// A thread keyring: `KEY_POS_ALL | KEY_USR_VIEW` (`install_thread_keyring_to_cred`).
    public static let threadKeyring = KeyPermissions(rawValue: 0x3F01_0000)
    /// A user keyring: `(KEY_POS_ALL & ~KEY_POS_SETATTR) | KEY_USR_ALL`.
    public static let userKeyring = KeyPermissions(rawValue: 0x1F3F_0000)

    /// `keyctl describe`'s 24-character form, `alswrv` per category (`-` for a missing bit).
    public var description: String {
        Category.allCases.map { Self.letters(bits(of: $0)) }.joined()
    }

    /// `alswrv` for six bits in the "other" position.
    static func letters(_ bits: UInt32) -> String {
        let names: [(UInt32, Character)] = [
            (setattr, "a"), (link, "l"), (search, "s"), (write, "w"), (read, "r"), (view, "v"),
        ]
        return String(names.map { bits & $0.0 != 0 ? $0.1 : "-" })
    }
}

/// A permission a key operation needs (Linux `enum key_need_perm`).
public enum KeyNeed: String, Sendable, Hashable, CaseIterable {
    case view
    case read
    case write
    case search
    case link
    case setattr

    /// The bit in the "other" position.
    var mask: UInt32 {
        switch self {
        case .view: KeyPermissions.view
        case .read: KeyPermissions.read
        case .write: KeyPermissions.write
        case .search: KeyPermissions.search
        case .link: KeyPermissions.link
        case .setattr: KeyPermissions.setattr
        }
    }
}
