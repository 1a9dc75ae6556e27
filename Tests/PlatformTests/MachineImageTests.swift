//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Testing
import X86

@testable import Platform

@Suite struct PlatformImageTests {
    @Test func configurationDefaultsMatchSpec() {
        let config = MachineConfiguration()
        #expect(config.packages == 1)
        #expect(config.cpusPerPackage == 2)
        #expect(config.memoryBytes == 64 << 20)
        #expect(config.maxPhysAddr == 46)
        #expect(config.keyIDBits == 6)
        #expect(config.maxKeys == 63)
        #expect(config.cacheLines == 16384)
        #expect(config.saveKeyForStandby)
        #expect(config.seed == nil)
    }

    @Test func configurationRoundTripsThroughJSONAndToleratesMissingKeys() throws {
        var config = MachineConfiguration()
        config.packages = 2
        config.seed = 7
        config.tmeExclude = TMEExclusion(base: 0x10_0000, mask: 0x3FFF_FFF0_0000)
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(MachineConfiguration.self, from: data) == config)
        let partial = try JSONDecoder().decode(MachineConfiguration.self, from: Data(#"{"packages": 2}"#.utf8))
        var expected = MachineConfiguration()
        expected.packages = 2
        #expect(partial == expected)
    }

    static let invalidChanges: [@Sendable (inout MachineConfiguration) -> Void] = [
        { c in c.packages = 0 },
        { c in c.cpusPerPackage = 0 },
        { c in c.memoryBytes = 4096 },
        { c in c.memoryBytes = (64 << 20) + 1 },
        { c in c.keyIDBits = 16 },
        { c in c.maxPhysAddr = 30 },
        { c in c.tmeEnabled = false },
        { c in c.maxKeys = 40_000 },
        { c in c.mkAlgorithms = [.aesXTS128, .aesXTS128] },
        { c in c.tmeExclude = TMEExclusion(base: 0, mask: 0x3FFF_FFF0_0000 & ~0x1000_0000) },
        { c in c.tmeExclude = TMEExclusion(base: 0x123, mask: 0x3FFF_FFF0_0000) },
    ]

    @Test(arguments: invalidChanges)
    func invalidConfigurationsAreRefused(change: @Sendable (inout MachineConfiguration) -> Void) {
        var config = MachineConfiguration()
        change(&config)
        let error = #expect(throws: HWKeysError.self) { try config.validate() }
        #expect(error?.errno == .EINVAL)
        #expect(error?.isUsage == true)
    }

    @Test func seededMachineSavesAndReloadsByteIdentically() throws {
        var config = MachineConfiguration()
        config.seed = 7
        config.packages = 2
        let machine = try Machine.create(configuration: config)
        let payload = Array("cold boot sees this".utf8)
        payload.withUnsafeBytes { machine.dram.write(0x2000, from: $0) }
        machine.advance(nanoseconds: 12345)
        let image = machine.makeImage()

        let source = DictionaryPageSource()
        for frame in machine.dram.dirtyFrames {
            machine.dram.withPage(frame) { source.pages[frame] = Array($0) }
        }
        let reloaded = try Machine.restore(configuration: config, image: image, pageSource: source)
        let again = reloaded.makeImage()
        #expect(again.volatile == image.volatile)
        #expect(again.nonVolatile == image.nonVolatile)
        #expect(reloaded.nanoseconds == machine.nanoseconds)
        var back = [UInt8](repeating: 0, count: payload.count)
        back.withUnsafeMutableBytes { reloaded.dram.read(0x2000, into: $0) }
        #expect(back == payload)
    }

    @Test func sameSeedGivesIdenticalImages() throws {
        var config = MachineConfiguration()
        config.seed = 99
        let first = try Machine.create(configuration: config).makeImage()
        let second = try Machine.create(configuration: config).makeImage()
        #expect(first.volatile == second.volatile)
        #expect(first.nonVolatile == second.nonVolatile)
    }

    @Test func truncatedOrCorruptImagesThrowInsteadOfTrapping() throws {
        var config = MachineConfiguration()
        config.seed = 1
        let image = try Machine.create(configuration: config).makeImage()
        for cut in stride(from: 0, to: image.volatile.count, by: max(1, image.volatile.count / 50)) {
            let truncated = PlatformImage(volatile: Array(image.volatile[0..<cut]), nonVolatile: image.nonVolatile)
            #expect(throws: HWKeysError(.EIO, "")) {
                try Machine.restore(configuration: config, image: truncated, pageSource: nil)
            }
        }
        var garbage = image
        garbage.nonVolatile = [UInt8](repeating: 0xFF, count: 40)
        #expect(throws: HWKeysError(.EIO, "")) {
            try Machine.restore(configuration: config, image: garbage, pageSource: nil)
        }
        var unseeded = config
        unseeded.seed = nil
        #expect(throws: HWKeysError(.EIO, "")) {
            try Machine.restore(configuration: unseeded, image: image, pageSource: nil)
        }
    }
}

@Suite struct PowerStateTests {
    @Test func transitionsFollowTheStateMachine() throws {
        let machine = try Machine.create(configuration: MachineConfiguration())
        #expect(machine.powerState == .running)
        try machine.power(.suspend)
        #expect(machine.powerState == .suspended)
        #expect(throws: HWKeysError(.EHOSTDOWN, "")) { try machine.power(.suspend) }
        try machine.power(.resume)
        try machine.power(.hibernate)
        #expect(machine.powerState == .hibernated)
        try machine.power(.resume)
        try machine.power(.reset)
        #expect(machine.powerState == .running)
        try machine.power(.off)
        #expect(throws: HWKeysError(.EINVAL, "")) { try machine.power(.resume) }
        #expect(throws: HWKeysError(.EHOSTDOWN, "")) { try machine.requireRunning() }
        try machine.power(.on)
        #expect(machine.powerState == .running)
    }

    @Test func powerLossWipesRegistersButNotDRAM() throws {
        let machine = try Machine.create(configuration: MachineConfiguration())
        let cpu = try #require(machine.processor(0))
        cpu.withXMMRegisters { $0[0] = 0x42 }
        [UInt8](repeating: 0x77, count: 64).withUnsafeBytes { machine.dram.write(0, from: $0) }
        try machine.power(.off)
        #expect(cpu.withXMMRegisters { $0[0] } == 0)
        var byte: [UInt8] = [0]
        byte.withUnsafeMutableBytes { machine.dram.read(0, into: $0) }
        #expect(byte == [0x77])
    }
}
