import Testing

@testable import HWKeysStore
