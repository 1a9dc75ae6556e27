//===----------------------------------------------------------------------===//
//
// hwkeys: TestSupport
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Testing

/// Records an issue unless `body` throws an ``HWKeysError`` carrying `errno`.
public func expectErrno(
    _ errno: Errno,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(errno.name), but the operation succeeded", sourceLocation: sourceLocation)
    } catch let error as HWKeysError {
        #expect(error.errno == errno, "expected \(errno.name): \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(errno.name), got \(error)", sourceLocation: sourceLocation)
    }
}
