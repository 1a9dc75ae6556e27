import Testing

@testable import X86
