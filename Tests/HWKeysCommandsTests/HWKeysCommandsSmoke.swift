import Testing

@testable import HWKeysCommands
