//! G.711 is bit-exact with ffmpeg's `pcm_mulaw` and `pcm_alaw` over every input: all
//! 65,536 16-bit samples encoded, all 256 codes decoded.

use std::path::Path;
use std::process::Command;

use vchat_intercom::g711::{Law, alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs (.ci/deps installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

#[test]
fn every_sample_encodes_and_every_code_decodes_as_ffmpeg_does() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let raw: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(dir.path().join("all.s16"), &raw).unwrap();
    let codes: Vec<u8> = (0..=255).collect();
    std::fs::write(dir.path().join("codes.raw"), &codes).unwrap();

    for (law, format, encode, decode) in [
        (
            Law::Ulaw,
            "mulaw",
            linear_to_ulaw as fn(i16) -> u8,
            ulaw_to_linear as fn(u8) -> i16,
        ),
        (Law::Alaw, "alaw", linear_to_alaw, alaw_to_linear),
    ] {
        let encoded = path(dir.path(), &format!("enc.{format}"));
        ffmpeg(&[
            "-f",
            "s16le",
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            &path(dir.path(), "all.s16"),
            "-f",
            format,
            &encoded,
        ]);
        let theirs = std::fs::read(&encoded).unwrap();
        assert_eq!(theirs.len(), samples.len());
        let wrong: Vec<_> = samples
            .iter()
            .zip(&theirs)
            .filter(|&(&s, &c)| encode(s) != c)
            .collect();
        assert!(
            wrong.is_empty(),
            "{format}: {} of 65536 samples encode differently, first {:?}",
            wrong.len(),
            wrong.first()
        );

        let decoded = path(dir.path(), &format!("dec.{format}.s16"));
        ffmpeg(&[
            "-f",
            format,
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            &path(dir.path(), "codes.raw"),
            "-f",
            "s16le",
            &decoded,
        ]);
        let theirs: Vec<i16> = std::fs::read(&decoded)
            .unwrap()
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(theirs.len(), 256);
        for code in 0..=255u8 {
            assert_eq!(
                decode(code),
                theirs[code as usize],
                "{format} code {code:#04x}"
            );
        }

        // The frame-at-a-time entry points agree with the per-sample ones.
        let mut frame = [0u8; 160];
        law.encode(&samples[1000..1160], &mut frame);
        assert!(
            frame
                .iter()
                .zip(&samples[1000..1160])
                .all(|(&c, &s)| c == encode(s))
        );
    }
}
