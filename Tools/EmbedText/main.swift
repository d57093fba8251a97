// Build-time tool of the EmbedOpenAPI plugin: writes a Swift file declaring `extension TYPE { static let NAME }` whose
// value is the input file's text, byte for byte (carried as base64, so no content can break the literal).
//
//   EmbedText INPUT OUTPUT TYPE NAME

import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 5 else {
    FileHandle.standardError.write(Data("usage: EmbedText INPUT OUTPUT TYPE NAME\n".utf8))
    exit(64)
}
let (input, output, type, name) = (arguments[1], arguments[2], arguments[3], arguments[4])
guard let bytes = FileManager.default.contents(atPath: input) else {
    FileHandle.standardError.write(Data("EmbedText: cannot read \(input)\n".utf8))
    exit(66)
}
guard String(data: bytes, encoding: .utf8) != nil else {
    FileHandle.standardError.write(Data("EmbedText: \(input) is not UTF-8\n".utf8))
    exit(65)
}
let file = (input as NSString).lastPathComponent
let source = """
    // Generated at build time by the EmbedOpenAPI plugin from \(file); edit that file, not this one.

    internal import Foundation

    extension \(type) {
        /// The text of `\(file)`, byte for byte, as it was when this binary was built.
        public static let \(name): String = String(
            decoding: Data(base64Encoded: "\(bytes.base64EncodedString())")!, as: UTF8.self)
    }

    """
do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    FileHandle.standardError.write(Data("EmbedText: cannot write \(output): \(error)\n".utf8))
    exit(73)
}
