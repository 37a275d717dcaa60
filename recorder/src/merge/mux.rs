//! Writing the merged file with libavformat: the client's VP8 frames copied, the two
//! parties' audio side by side (client left, agent right) — their own packets as the
//! two streams of one Opus track, or decoded and encoded again by libavcodec's libopus
//! encoder — packets written in time order, block by block.

use std::collections::VecDeque;
use std::path::Path;

use ffmpeg::{ChannelLayout, Packet, Rational, codec, encoder, format, frame};
use ffmpeg_next as ffmpeg;

use super::audio::{BLOCK, PartyAudio, RATE};
use super::codec_parameters;
use super::party::{AudioCodec, PartyTrack, ReadStats};
use super::passthrough::{self, PartySlots, SLOT, SlotStats};
use super::video::{ClientVideo, VideoCodec, VideoFrame, VideoStats};
use super::{CallCaptures, TrackFile};
use crate::timeline::start_sample;
use crate::timeline::sync::{TrackClock, place_video};

/// Why a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing was captured.
    #[error("the call has no captured media")]
    Empty,
    /// The client's video is in a codec this merge does not copy yet.
    #[error("client video codec {0} is not merged yet (VP8 and VP9 are)")]
    Codec(String),
    /// libopus.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// libav*.
    #[error("ffmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    /// A packet that passed the grid check could not be reframed.
    #[error("{0}")]
    Malformed(#[from] passthrough::Malformed),
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// WebM: VP8 or VP9, Opus (or no video).
    WebM,
    /// MP4: H.264 and AAC.
    Mp4,
}

impl Container {
    fn format_name(self) -> &'static str {
        match self {
            Container::WebM => "webm",
            Container::Mp4 => "mp4",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::WebM => "webm",
            Container::Mp4 => "mp4",
        }
    }

    /// The MIME type of a file with or without video.
    pub fn content_type(self, video: bool) -> &'static str {
        match (self, video) {
            (Container::WebM, true) => "video/webm",
            (Container::WebM, false) => "audio/webm",
            (Container::Mp4, true) => "video/mp4",
            (Container::Mp4, false) => "audio/mp4",
        }
    }
}

/// How the stereo track is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioMode {
    /// The parties' own packets when every one of them fits the 20 ms grid, otherwise
    /// decoded and encoded again.
    #[default]
    Auto,
    /// The parties' own packets (misfits are concealed).
    Passthrough,
    /// Decoded, placed and encoded again as stereo Opus at 64 kbit/s.
    Reencode,
}

/// How a merge runs.
#[derive(Default)]
pub struct MergeOptions<'a> {
    /// How the stereo track is made.
    pub audio: AudioMode,
    /// Called now and then with the milliseconds of the call written so far.
    pub progress: Option<&'a mut dyn FnMut(u64)>,
}

/// What a merge made.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The file's format.
    pub container: Container,
    /// Length of the file, ms.
    pub duration_ms: i64,
    /// Stereo samples written (per channel).
    pub audio_samples: u64,
    /// How the stereo track was made ([`AudioMode::Passthrough`] or
    /// [`AudioMode::Reencode`]).
    pub audio: AudioMode,
    /// The client's and the agent's slots (when passed through).
    pub slots: Option<[SlotStats; 2]>,
    /// Video frames copied.
    pub video: VideoStats,
    /// Video size (the first keyframe's).
    pub video_size: Option<(u32, u32)>,
    /// Client and agent audio frames that did not decode (when re-encoded).
    pub decode_errors: u64,
    /// Torn bytes dropped from the captures.
    pub torn_bytes: u64,
    /// Frames received twice, and frames that came too late to be placed.
    pub duplicates: u64,
    /// Frames that came after their place was written.
    pub late: u64,
    /// How far the client's video was moved from where it arrived to line up with its
    /// audio (sender reports, or the audio's grid), µs.
    pub lip_sync_us: Option<i64>,
}

/// Merges `captures` into a WebM at `out`, the stereo track made the [`AudioMode::Auto`]
/// way.
pub fn merge(captures: &CallCaptures, out: &Path) -> Result<MergeReport, MergeError> {
    merge_with(captures, out, MergeOptions::default())
}

/// Whether every packet of these audio captures is Opus that fits the 20 ms grid
/// (G.711 is always decoded).
fn all_fit_grid(captures: &CallCaptures) -> bool {
    captures
        .client_audio
        .iter()
        .chain(&captures.agent_audio)
        .all(|file| {
            AudioCodec::from_name(&file.header.codec) == Some(AudioCodec::Opus)
                && match file.open() {
                    Ok(stream) => super::CaptureFrames(stream)
                        .filter(|f| !f.payload.is_empty())
                        .all(|f| passthrough::fits_grid(&f.payload)),
                    Err(_) => true, // unreadable: it contributes nothing either way
                }
        })
}

/// Where a client video segment goes: lined up with the client's audio of the same
/// join by their sender reports, or else where it arrived shifted as the audio was
/// (onto the 20 ms grid, when passed through). `None`: where it arrived.
fn video_anchor(
    captures: &CallCaptures,
    video: &TrackFile,
    origin: i64,
    grid: bool,
) -> Option<(i64, u64)> {
    let audio = captures
        .client_audio
        .iter()
        .find(|a| a.header.segment == video.header.segment)?;
    // The audio's place, as the party track computes it, then as the grid moves it.
    let start = start_sample(audio.first_us? - origin, RATE);
    let placed = if grid {
        passthrough::nearest_slot(start) * SLOT
    } else {
        start
    };
    let us = |samples: u64| i64::try_from(samples * 1_000_000 / u64::from(RATE)).unwrap_or(0);
    let audio_clock = TrackClock {
        placed_us: us(placed),
        rtp_ts: audio.first_rtp_ts?,
        clock_rate: audio.header.clock_rate,
        report: audio.first_report,
    };
    let arrived = video.first_us? - origin;
    let video_ts = video.first_rtp_ts?;
    let video_clock = TrackClock {
        placed_us: arrived,
        rtp_ts: video_ts,
        clock_rate: video.header.clock_rate,
        report: video.first_report,
    };
    let at = place_video(&audio_clock, &video_clock).unwrap_or(arrived + us(placed) - us(start));
    Some((at, video_ts))
}

/// The audio side of the merge, one 20 ms block at a time.
enum Audio {
    Passthrough {
        client: PartySlots,
        agent: PartySlots,
        silence: Vec<u8>,
        packet: Vec<u8>,
    },
    Reencode {
        client: PartyAudio,
        agent: PartyAudio,
        encoder: encoder::Audio,
        /// One 20 ms block of each party.
        left: Vec<i16>,
        right: Vec<i16>,
        /// Samples waiting for a whole encoder frame (AAC takes 1024 at a time).
        fifo: VecDeque<(i16, i16)>,
        frame: frame::Audio,
        frame_size: usize,
        /// AAC wants planar floats; libopus packed 16-bit.
        planar_float: bool,
        encoded: u64,
    },
}

struct Output {
    octx: format::context::Output,
    audio_index: usize,
    audio_tb: Rational,
    video: Option<(usize, Rational)>,
    last_video_ms: Option<i64>,
}

impl Output {
    /// Writes a video frame lasting until `next_ms` (the next frame's time, if any).
    fn write_video(&mut self, f: &VideoFrame, next_ms: Option<i64>) -> Result<(), ffmpeg::Error> {
        let Some((index, tb)) = self.video else {
            return Ok(());
        };
        // Muxers want increasing times: a frame of a rejoin that overlaps the last
        // one's millisecond goes a millisecond later.
        let pts = self
            .last_video_ms
            .map_or(f.pts_ms, |last| f.pts_ms.max(last + 1));
        self.last_video_ms = Some(pts);
        let mut p = Packet::copy(&f.data);
        p.set_stream(index);
        p.set_pts(Some(pts));
        p.set_dts(Some(pts));
        // The last frame lasts as long as a frame at 30 fps; the others until the next.
        p.set_duration(next_ms.map_or(33, |n| (n - pts).clamp(1, 1000)));
        if f.key {
            p.set_flags(codec::packet::Flags::KEY);
        }
        p.rescale_ts(Rational::new(1, 1000), tb);
        p.write_interleaved(&mut self.octx)
    }

    fn write_audio(&mut self, p: &mut Packet, from_tb: Rational) -> Result<(), ffmpeg::Error> {
        p.set_stream(self.audio_index);
        p.rescale_ts(from_tb, self.audio_tb);
        p.write_interleaved(&mut self.octx)
    }
}

impl Audio {
    fn finished(&mut self) -> bool {
        match self {
            Audio::Passthrough { client, agent, .. } => client.finished() && agent.finished(),
            Audio::Reencode { client, agent, .. } => client.finished() && agent.finished(),
        }
    }

    /// Writes the block that starts at sample `at` of the timeline.
    fn write_block(&mut self, at: u64, out: &mut Output) -> Result<(), MergeError> {
        let tb = Rational::new(1, RATE as i32);
        match self {
            Audio::Passthrough {
                client,
                agent,
                silence,
                packet,
            } => {
                packet.clear();
                let (left, right) = (client.next_slot(), agent.next_slot());
                client.append(packet, &left, silence, false)?;
                agent.append(packet, &right, silence, true)?;
                let mut p = Packet::copy(packet);
                let pts = i64::try_from(at).unwrap_or(i64::MAX);
                p.set_pts(Some(pts));
                p.set_dts(Some(pts));
                p.set_duration(SLOT as i64);
                p.set_flags(codec::packet::Flags::KEY);
                out.write_audio(&mut p, tb)?;
            }
            Audio::Reencode {
                client,
                agent,
                left,
                right,
                fifo,
                ..
            } => {
                client.fill(left);
                agent.fill(right);
                fifo.extend(left.iter().copied().zip(right.iter().copied()));
                self.encode_whole_frames(out, false)?;
            }
        }
        Ok(())
    }

    /// Encodes every whole encoder frame waiting (and, at the `end`, the rest padded
    /// with silence).
    fn encode_whole_frames(&mut self, out: &mut Output, end: bool) -> Result<(), MergeError> {
        let Audio::Reencode {
            encoder,
            fifo,
            frame,
            frame_size,
            planar_float,
            encoded,
            ..
        } = self
        else {
            return Ok(());
        };
        let tb = Rational::new(1, RATE as i32);
        while fifo.len() >= *frame_size || (end && !fifo.is_empty()) {
            let n = fifo.len().min(*frame_size);
            if *planar_float {
                for ch in 0..2 {
                    let data = frame.data_mut(ch);
                    for (i, (l, r)) in fifo.iter().take(n).enumerate() {
                        let v = f32::from(if ch == 0 { *l } else { *r }) / 32768.0;
                        data[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    data[n * 4..*frame_size * 4].fill(0);
                }
            } else {
                let data = frame.data_mut(0);
                for (i, (l, r)) in fifo.iter().take(n).enumerate() {
                    data[i * 4..i * 4 + 2].copy_from_slice(&l.to_le_bytes());
                    data[i * 4 + 2..i * 4 + 4].copy_from_slice(&r.to_le_bytes());
                }
                data[n * 4..*frame_size * 4].fill(0);
            }
            fifo.drain(..n);
            frame.set_pts(Some(i64::try_from(*encoded).unwrap_or(i64::MAX)));
            encoder.send_frame(frame)?;
            *encoded += *frame_size as u64;
            let mut p = Packet::empty();
            while encoder.receive_packet(&mut p).is_ok() {
                out.write_audio(&mut p, tb)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) -> Result<(), MergeError> {
        self.encode_whole_frames(out, true)?;
        if let Audio::Reencode { encoder, .. } = self {
            encoder.send_eof()?;
            let mut p = Packet::empty();
            while encoder.receive_packet(&mut p).is_ok() {
                out.write_audio(&mut p, Rational::new(1, RATE as i32))?;
            }
        }
        Ok(())
    }
}

/// Merges `captures` into a file at `out`: a WebM with the client's VP8 or VP9
/// copied, or an MP4 with its H.264 copied and AAC audio.
pub fn merge_with(
    captures: &CallCaptures,
    out: &Path,
    mut options: MergeOptions<'_>,
) -> Result<MergeReport, MergeError> {
    ffmpeg::init()?;
    // libav*'s own chatter (encoder statistics, muxer passes) stays out of our logs.
    ffmpeg::log::set_level(ffmpeg::log::Level::Error);
    let origin = captures.origin_us().ok_or(MergeError::Empty)?;
    // One video track: the codec of the client's first segment (a rejoin in another
    // codec is left out — WebM cannot change a track's codec).
    let video_files: Vec<_> = {
        let mut files: Vec<_> = captures
            .client_video
            .iter()
            .filter(|f| f.first_us.is_some())
            .collect();
        files.sort_by_key(|f| f.first_us);
        files
    };
    let video_codec = match video_files.first() {
        None => VideoCodec::Vp8,
        Some(f) => VideoCodec::from_name(&f.header.codec)
            .ok_or_else(|| MergeError::Codec(f.header.codec.clone()))?,
    };
    // H.264 goes into MP4 (WebM cannot hold it), and MP4's audio is AAC.
    let container = if video_codec == VideoCodec::H264 {
        Container::Mp4
    } else {
        Container::WebM
    };
    let mode = match options.audio {
        _ if container == Container::Mp4 => AudioMode::Reencode,
        AudioMode::Auto if all_fit_grid(captures) => AudioMode::Passthrough,
        AudioMode::Auto => AudioMode::Reencode,
        m => m,
    };
    let video_files: Vec<(TrackFile, Option<(i64, u64)>)> = video_files
        .into_iter()
        .filter(|f| VideoCodec::from_name(&f.header.codec) == Some(video_codec))
        .map(|f| {
            let anchor = video_anchor(captures, f, origin, mode == AudioMode::Passthrough);
            (f.clone(), anchor)
        })
        .collect();
    let lip_sync_us = video_files
        .first()
        .and_then(|(f, anchor)| Some(anchor.as_ref()?.0 - (f.first_us? - origin)));
    let client_track = PartyTrack::new(&captures.client_audio, origin);
    let agent_track = PartyTrack::new(&captures.agent_audio, origin);
    let mut video = ClientVideo::new(video_codec, &video_files, origin);
    // Frames without a readable keyframe size are not written (no video stream).
    let video_size = video.peek().and_then(|f| video_codec.size(&f.data));
    let video_extradata = video
        .peek()
        .map(|f| video_codec.extradata(&f.data))
        .unwrap_or_default();

    let mut octx = format::output_as(out, container.format_name())?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

    let mut video_index = None;
    if let Some((w, h)) = video_size {
        let id = match video_codec {
            VideoCodec::Vp8 => codec::Id::VP8,
            VideoCodec::Vp9 => codec::Id::VP9,
            VideoCodec::H264 => codec::Id::H264,
        };
        let params = codec_parameters::video(id, w, h, &video_extradata)?;
        let mut st = octx.add_stream(encoder::find(id))?;
        st.set_parameters(params);
        st.set_time_base(Rational::new(1, 1000));
        video_index = Some(st.index());
    }

    let (mut audio, audio_index) = match mode {
        AudioMode::Passthrough => {
            let params = codec_parameters::opus_stereo(&passthrough::opus_head())?;
            let mut st = octx.add_stream(encoder::find(codec::Id::OPUS))?;
            st.set_parameters(params);
            st.set_time_base(Rational::new(1, RATE as i32));
            let index = st.index();
            let audio = Audio::Passthrough {
                client: PartySlots::new(client_track),
                agent: PartySlots::new(agent_track),
                silence: passthrough::silence_packet()?,
                packet: Vec::with_capacity(4000),
            };
            (audio, index)
        }
        _ => {
            // WebM: stereo Opus (libopus); MP4: AAC-LC (libavcodec's encoder), what
            // every player of MP4 plays.
            let (acodec, sample, bit_rate) = match container {
                Container::WebM => (
                    encoder::find_by_name("libopus"),
                    format::Sample::I16(format::sample::Type::Packed),
                    64_000,
                ),
                Container::Mp4 => (
                    encoder::find(codec::Id::AAC),
                    format::Sample::F32(format::sample::Type::Planar),
                    128_000,
                ),
            };
            let acodec = acodec.ok_or(ffmpeg::Error::EncoderNotFound)?;
            let mut aenc = codec::context::Context::new_with_codec(acodec)
                .encoder()
                .audio()?;
            aenc.set_rate(RATE as i32);
            aenc.set_channel_layout(ChannelLayout::STEREO);
            aenc.set_format(sample);
            aenc.set_bit_rate(bit_rate);
            aenc.set_time_base(Rational::new(1, RATE as i32));
            if global_header {
                aenc.set_flags(codec::Flags::GLOBAL_HEADER);
            }
            let aenc = aenc.open_as(acodec)?;
            let frame_size = match aenc.frame_size() {
                0 => BLOCK,
                n => n as usize,
            };
            let mut st = octx.add_stream(acodec)?;
            st.set_parameters(&aenc);
            st.set_time_base(Rational::new(1, RATE as i32));
            let index = st.index();
            let mut frame = frame::Audio::new(sample, frame_size, ChannelLayout::STEREO);
            frame.set_rate(RATE);
            let audio = Audio::Reencode {
                client: PartyAudio::new(client_track)?,
                agent: PartyAudio::new(agent_track)?,
                encoder: aenc,
                left: vec![0; BLOCK],
                right: vec![0; BLOCK],
                fifo: VecDeque::with_capacity(frame_size + BLOCK),
                frame,
                frame_size,
                planar_float: matches!(sample, format::Sample::F32(format::sample::Type::Planar)),
                encoded: 0,
            };
            (audio, index)
        }
    };
    match container {
        // The index first, so a browser plays the file while it downloads.
        Container::Mp4 => {
            let mut options = ffmpeg::Dictionary::new();
            options.set("movflags", "+faststart");
            // Options the muxer did not take come back; there are none to look at.
            let _unused = octx.write_header_with(options)?;
        }
        Container::WebM => {
            octx.write_header()?;
        }
    }
    let audio_tb = octx
        .stream(audio_index)
        .map(|s| s.time_base())
        .unwrap_or(Rational::new(1, 1000));
    let video_tb = video_index.and_then(|i| octx.stream(i).map(|s| (i, s.time_base())));
    let mut output = Output {
        octx,
        audio_index,
        audio_tb,
        video: video_tb,
        last_video_ms: None,
    };

    let mut written: u64 = 0;
    // The file lasts until the last media of anyone: the audio's end, or the last video
    // frame's (plus a frame's length).
    let mut video_end_samples = 0u64;
    loop {
        let block_ms = i64::try_from(written * 1000 / u64::from(RATE)).unwrap_or(i64::MAX);
        // Video frames due before this audio block go first.
        while video_size.is_some() && video.peek().is_some_and(|f| f.pts_ms <= block_ms) {
            let f = video.next().expect("peeked");
            output.write_video(&f, video.peek().map(|n| n.pts_ms))?;
            video_end_samples = video_end_samples
                .max(u64::try_from(f.pts_ms + 33).unwrap_or(0) * u64::from(RATE) / 1000);
        }
        // Without a video stream (no readable keyframe), video frames do not count.
        let video_done = video_size.is_none() || video.peek().is_none();
        if audio.finished() && video_done && written >= video_end_samples {
            break;
        }
        audio.write_block(written, &mut output)?;
        written += BLOCK as u64;
        if written % (u64::from(RATE) * 10) < BLOCK as u64
            && let Some(progress) = options.progress.as_mut()
        {
            progress(written * 1000 / u64::from(RATE));
        }
    }
    audio.finish(&mut output)?;
    output.octx.write_trailer()?;

    let (video_stats, video_read) = video.stats();
    let (slots, decode_errors, party_read) = match &audio {
        Audio::Passthrough { client, agent, .. } => (
            Some([client.stats, agent.stats]),
            0,
            [client.read_stats(), agent.read_stats()],
        ),
        Audio::Reencode { client, agent, .. } => (
            None,
            client.decode_errors + agent.decode_errors,
            [client.stats(), agent.stats()],
        ),
    };
    let read =
        [video_read, party_read[0], party_read[1]]
            .iter()
            .fold(ReadStats::default(), |a, b| ReadStats {
                torn_bytes: a.torn_bytes + b.torn_bytes,
                duplicates: a.duplicates + b.duplicates,
                late: a.late + b.late,
            });
    Ok(MergeReport {
        container,
        duration_ms: i64::try_from(written * 1000 / u64::from(RATE)).unwrap_or(i64::MAX),
        audio_samples: written,
        audio: mode,
        slots,
        video: video_stats,
        video_size,
        decode_errors,
        torn_bytes: read.torn_bytes,
        duplicates: read.duplicates,
        late: read.late,
        lip_sync_us,
    })
}

/// What the merge needs of the ffmpeg libraries it is linked with: each part, and
/// whether it is there (`vchat doctor` shows this).
pub fn libraries() -> Vec<(String, bool)> {
    if ffmpeg::init().is_err() {
        return vec![(
            "the ffmpeg libraries (libavformat, libavcodec)".into(),
            false,
        )];
    }
    let version = |v: u32| format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff);
    vec![
        (format!("libavformat {}", version(format::version())), true),
        (
            format!("libavcodec {}", version(ffmpeg::codec::version())),
            true,
        ),
        (
            "libopus (the recordings' stereo audio)".into(),
            encoder::find_by_name("libopus").is_some(),
        ),
        (
            "the Opus decoder".into(),
            ffmpeg::decoder::find(codec::Id::OPUS).is_some(),
        ),
        (
            "the AAC encoder (MP4 recordings)".into(),
            encoder::find(codec::Id::AAC).is_some(),
        ),
    ]
}
