//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Testing

@testable import Platform

/// The array-backed cycle counters keep the dictionary view and the image format.
@Suite struct CycleCountersTests {
    @Test func indexIsTheDeclarationOrder() {
        for (offset, item) in CostItem.allCases.enumerated() { #expect(item.index == offset, "\(item)") }
    }

    @Test func onlyChargedItemsAppearAndTheyRoundTripThroughTheImage() throws {
        var counters = CycleCounters()
        #expect(counters.counts.isEmpty && counters.cycles.isEmpty && counters.total == 0)
        counters.add(.aesklWide, count: 3, cycles: 600)
        counters.add(.rdrand, count: 0, cycles: 0)
        counters.add(.aesklWide, count: 1, cycles: 200)
        #expect(counters.counts == [.aesklWide: 4, .rdrand: 0])
        #expect(counters.cycles == [.aesklWide: 800, .rdrand: 0])
        #expect(counters.total == 800)
        var writer = ImageWriter()
        counters.encode(into: &writer)
        var reader = ImageReader(writer.bytes)
        let decoded = try CycleCounters.decode(from: &reader)
        #expect(decoded == counters)
        #expect(decoded.counts == counters.counts)
        #expect(decoded != CycleCounters())
    }
}
