import Testing

@testable import HWCrypto
