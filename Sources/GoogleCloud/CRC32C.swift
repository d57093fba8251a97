/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Cloud Storage and Secret Manager report it.
///
/// Slicing-by-8: eight bytes per step through eight 256-entry tables, about 1 GB/s on one core, so checksumming a
/// file costs little beside sending it.
public enum CRC32C {
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
            tables[index] = value
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()

    /// The checksum of `bytes`, continuing from `crc` (0 for a fresh start).
    public static func checksum(_ bytes: some Sequence<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        if let value = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) })
        {
            return value
        }
        return checksum(Array(bytes), continuing: crc)
    }

    /// The checksum of the bytes at `buffer`, continuing from `crc` (0 for a fresh start).
    public static func checksum(_ buffer: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            var value = ~crc
            var offset = 0
            let count = buffer.count
            while count - offset >= 8 {
                let low = value ^ buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian
                let high = buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian
                value =
                    table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                offset += 8
            }
            while offset < count {
                value = table[Int((value ^ UInt32(buffer[offset])) & 0xFF)] ^ (value >> 8)
                offset += 1
            }
            return ~value
        }
    }
}
