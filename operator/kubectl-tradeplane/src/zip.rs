//! A small zip writer for the support bundle: deflated entries, no directories entries, no
//! zip64 (a bundle is far below 4 GiB: logs are bounded per pod). Written here because the
//! bundle needs only this, and the format's few records are simple to get right.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// One file of the archive, already compressed.
struct Entry {
    name: String,
    crc: u32,
    size: u32,
    compressed: Vec<u8>,
    offset: u32,
}

/// Collects files in memory and writes the archive at the end.
#[derive(Default)]
pub struct ZipWriter {
    entries: Vec<Entry>,
    body: Vec<u8>,
}

/// The archive would need zip64 (over 4 GiB or 65535 files).
#[derive(Debug, thiserror::Error)]
#[error("the bundle is too large for a plain zip file ({0})")]
pub struct TooLarge(&'static str);

impl ZipWriter {
    /// Adds the file `name` (a relative path with `/`) holding `data`.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), TooLarge> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(data)
            .map_err(|_| TooLarge("deflate failed"))?;
        let compressed = encoder.finish().map_err(|_| TooLarge("deflate failed"))?;
        let size = u32::try_from(data.len()).map_err(|_| TooLarge("a file over 4 GiB"))?;
        let offset = u32::try_from(self.body.len()).map_err(|_| TooLarge("over 4 GiB"))?;
        let entry = Entry {
            name: name.to_string(),
            crc: crc32fast::hash(data),
            size,
            compressed,
            offset,
        };
        self.body.extend(local_header(&entry)?);
        self.body.extend(&entry.compressed);
        self.entries.push(entry);
        Ok(())
    }

    /// The whole archive: the files, then the central directory and its end record.
    pub fn finish(self) -> Result<Vec<u8>, TooLarge> {
        let count = u16::try_from(self.entries.len()).map_err(|_| TooLarge("too many files"))?;
        let mut out = self.body;
        let start = u32::try_from(out.len()).map_err(|_| TooLarge("over 4 GiB"))?;
        for entry in &self.entries {
            out.extend(central_header(entry)?);
        }
        let length = u32::try_from(out.len()).map_err(|_| TooLarge("over 4 GiB"))? - start;
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]); // this disk, the disk the directory starts on
        out.extend(count.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(length.to_le_bytes());
        out.extend(start.to_le_bytes());
        out.extend(0u16.to_le_bytes()); // no comment
        Ok(out)
    }
}

/// Version needed 2.0, flag 0x0800 (names are UTF-8), method 8 (deflate), time 00:00 of
/// 1980-01-01 (the bundle's own files carry their times in their content).
fn common(entry: &Entry) -> Result<Vec<u8>, TooLarge> {
    let compressed =
        u32::try_from(entry.compressed.len()).map_err(|_| TooLarge("a file over 4 GiB"))?;
    let name = u16::try_from(entry.name.len()).map_err(|_| TooLarge("a name too long"))?;
    let mut out = Vec::new();
    out.extend(20u16.to_le_bytes());
    out.extend(0x0800u16.to_le_bytes());
    out.extend(8u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0x0021u16.to_le_bytes());
    out.extend(entry.crc.to_le_bytes());
    out.extend(compressed.to_le_bytes());
    out.extend(entry.size.to_le_bytes());
    out.extend(name.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // no extra field
    Ok(out)
}

fn local_header(entry: &Entry) -> Result<Vec<u8>, TooLarge> {
    let mut out = 0x0403_4b50u32.to_le_bytes().to_vec();
    out.extend(common(entry)?);
    out.extend(entry.name.as_bytes());
    Ok(out)
}

fn central_header(entry: &Entry) -> Result<Vec<u8>, TooLarge> {
    let mut out = 0x0201_4b50u32.to_le_bytes().to_vec();
    out.extend(20u16.to_le_bytes()); // made by: version 2.0
    out.extend(common(entry)?);
    out.extend(0u16.to_le_bytes()); // no comment
    out.extend(0u16.to_le_bytes()); // disk 0
    out.extend(0u16.to_le_bytes()); // internal attributes
    out.extend(0u32.to_le_bytes()); // external attributes
    out.extend(entry.offset.to_le_bytes());
    out.extend(entry.name.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_s_zipfile_reads_back_what_was_written() {
        let mut zip = ZipWriter::default();
        zip.add("a/one.yaml", b"kind: Secret\n").unwrap();
        zip.add("b/two.log", &b"line\n".repeat(1000)).unwrap();
        let bytes = zip.finish().unwrap();
        let dir = std::env::temp_dir().join(format!("zip-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.zip");
        std::fs::write(&file, &bytes).unwrap();
        // An independent reader: `unzip -p` prints the files' contents, checking each CRC.
        let out = std::process::Command::new("unzip")
            .args(["-p"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("kind: Secret\nline\n"), "{text}");
        assert_eq!(text.len(), 13 + 5000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
