//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation

/// Identifies one committed state of one machine.
///
/// Every commit to a machine gives it a new revision, and replacing a machine gives the new one a
/// revision no earlier machine of that name ever had. Pass the revision you loaded to
/// ``MachineUpdate/modify(_:expecting:)`` so a commit fails with `EAGAIN` instead of overwriting
/// changes another process made in between.
public struct MachineRevision: Sendable, Hashable {
    /// The machine's row id. `AUTOINCREMENT` guarantees ids are never reused, so a replaced machine
    /// never matches a revision of its predecessor.
    public let machineID: Int64
    /// Raised by one on every commit (see ``generation(after:)``).
    public let generation: Int64

    /// A revision from its parts (for layers that keep revisions in their own types).
    public init(machineID: Int64, generation: Int64) {
        self.machineID = machineID
        self.generation = generation
    }

    /// The generation a commit gives a machine stored at `generation`: one more, wrapping from
    /// `Int64.max` to 1 (never trapping, whatever a damaged or crafted file holds; a value below 1
    /// also restarts at 1, as the schema allows only 1 and above).
    ///
    /// Wrapping rather than saturating keeps every commit visible: a process comparing the revision
    /// it loaded with the stored one sees a difference after any commit, unless exactly 2^63 − 1
    /// commits happened in between. A saturated counter would stop changing at `Int64.max`.
    static func generation(after generation: Int64) -> Int64 {
        (1..<Int64.max).contains(generation) ? generation + 1 : 1
    }
}

/// What `machine list` shows about a stored machine.
public struct MachineInfo: Sendable, Hashable {
    /// The machine's name.
    public let name: String
    /// When the machine was created (or last replaced).
    public let createdAt: Date
    /// The configuration the caller stored (JSON written by the caller; opaque to the store).
    public let configuration: Data
}

/// A stored machine, loaded for one command: configuration and state components in full; pages
/// are read on demand with ``StateStore/page(_:in:of:)``.
public struct MachineImage: Sendable, Hashable {
    /// The machine's name.
    public let name: String
    /// When the machine was created (or last replaced).
    public let createdAt: Date
    /// The configuration the caller stored.
    public let configuration: Data
    /// The state this image was loaded from; pass it back in the next update.
    public let revision: MachineRevision
    /// The state components by name (for example `platform.volatile`, `platform.nonvolatile`, `kernel`).
    public let components: [String: Data]
    /// The page spaces by name (for example `dram`), with their page sizes in bytes.
    public let pageSpaces: [String: Int]
}
