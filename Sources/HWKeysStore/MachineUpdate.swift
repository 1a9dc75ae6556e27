//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation

/// Everything one command changes in one machine, committed atomically by ``StateStore/commit(_:)``.
///
/// Build an update with ``create(_:configuration:createdAt:)``, ``replace(_:configuration:createdAt:)`` or
/// ``modify(_:expecting:)``, record changes with the mutating methods, then commit it. Changes apply as
/// if in call order: a later call about the same component, page or page space overrides an earlier one,
/// and dropping a page space discards the changes recorded for it so far.
///
/// ```swift
/// var update = MachineUpdate.modify(image.name, expecting: image.revision)
/// update.setComponent("kernel", to: kernelState)
/// update.writePage(0x1234, in: "dram", bytes: page)  // an all-zero page is deleted instead
/// try store.commit(update)
/// ```
public struct MachineUpdate: Sendable {
    /// How the update treats an existing machine of that name.
    public enum Mode: Sendable, Hashable {
        /// Create a new machine; fails with `EEXIST` if one exists.
        case create
        /// Create a new machine, deleting any machine of that name with all its data first
        /// (`machine create --force`).
        case replace
        /// Change an existing machine; fails with `ENOENT` if it does not exist, and with `EAGAIN` if a
        /// revision is given and the machine is no longer at it.
        case modify(expecting: MachineRevision?)
    }

    enum Change: Sendable, Hashable {
        case write(Data)
        case delete
    }

    /// The machine's name: 1 to 255 UTF-8 bytes, no control characters.
    public let machine: String
    /// How the update treats an existing machine.
    public let mode: Mode
    /// The new configuration; required when creating or replacing, `nil` keeps the stored one.
    public var configuration: Data?
    /// The creation time recorded when the update creates the machine.
    public var createdAt: Date

    private(set) var components: [String: Change] = [:]
    private(set) var droppedSpaces: Set<String> = []
    private(set) var declaredSpaces: [String: Int] = [:]
    private(set) var pages: [String: [Int: Change]] = [:]

    /// Creates an empty update.
    ///
    /// - Parameters:
    ///   - machine: The machine's name.
    ///   - mode: How to treat an existing machine of that name.
    ///   - configuration: The configuration to store; required by `.create` and `.replace`.
    ///   - createdAt: The creation time recorded if the update creates the machine.
    public init(machine: String, mode: Mode, configuration: Data? = nil, createdAt: Date = Date()) {
        self.machine = machine
        self.mode = mode
        self.configuration = configuration
        self.createdAt = createdAt
    }

    /// An update that creates a new machine; committing it fails with `EEXIST` if the machine exists.
    public static func create(_ machine: String, configuration: Data, createdAt: Date = Date()) -> MachineUpdate {
        MachineUpdate(machine: machine, mode: .create, configuration: configuration, createdAt: createdAt)
    }

    /// An update that deletes any machine of that name with all its data, then creates it afresh.
    public static func replace(_ machine: String, configuration: Data, createdAt: Date = Date()) -> MachineUpdate {
        MachineUpdate(machine: machine, mode: .replace, configuration: configuration, createdAt: createdAt)
    }

    /// An update that changes an existing machine.
    ///
    /// - Parameters:
    ///   - machine: The machine's name.
    ///   - revision: The revision the caller loaded (``MachineImage/revision``) or got from its last
    ///     commit; the commit fails with `EAGAIN` if the machine has moved on. `nil` skips the check.
    public static func modify(_ machine: String, expecting revision: MachineRevision?) -> MachineUpdate {
        MachineUpdate(machine: machine, mode: .modify(expecting: revision))
    }

    /// Whether the update records no change besides creating or replacing the machine.
    public var isEmpty: Bool {
        configuration == nil && components.isEmpty && droppedSpaces.isEmpty && declaredSpaces.isEmpty
            && pages.isEmpty
    }

    /// Stores a state component, replacing any stored bytes of that name.
    public mutating func setComponent(_ name: String, to bytes: Data) {
        components[name] = .write(bytes)
    }

    /// Deletes a state component (nothing happens if none is stored).
    public mutating func removeComponent(_ name: String) {
        components[name] = .delete
    }

    /// Makes sure a page space exists with the given page size.
    ///
    /// Declaring an existing space with the same size changes nothing; with another size the commit
    /// fails with `EINVAL` (drop it first to change its page size).
    ///
    /// - Parameters:
    ///   - name: The space's name, such as `dram` or `disk:<name>`.
    ///   - pageSize: The size of every page in the space, in bytes (1 to 1 MiB).
    public mutating func declarePageSpace(_ name: String, pageSize: Int) {
        declaredSpaces[name] = pageSize
    }

    /// Deletes a page space with all its pages, and discards the changes recorded for it so far.
    public mutating func dropPageSpace(_ name: String) {
        droppedSpaces.insert(name)
        declaredSpaces[name] = nil
        pages[name] = nil
    }

    /// Stores one page; a page whose bytes are all zero is deleted instead, so zero pages cost nothing.
    ///
    /// The space must exist or be declared in this update, and `bytes` must be exactly its page size;
    /// otherwise the commit fails with `EINVAL`.
    public mutating func writePage(_ index: Int, in space: String, bytes: Data) {
        pages[space, default: [:]][index] = .write(bytes)
    }

    /// Deletes one page (nothing happens if it is not stored).
    public mutating func deletePage(_ index: Int, in space: String) {
        pages[space, default: [:]][index] = .delete
    }
}
