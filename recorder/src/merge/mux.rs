//! Writing the merged file with libavformat: the client's VP8 frames copied, the two
//! parties' audio interleaved (client left, agent right) and encoded by libavcodec's
//! libopus encoder, packets written in time order.

use std::path::Path;

use ffmpeg::{ChannelLayout, Packet, Rational, codec, encoder, format, frame};
use ffmpeg_next as ffmpeg;

use super::CallCaptures;
use super::audio::{BLOCK, PartyAudio, RATE};
use super::video::{VideoStats, vp8_frames, vp8_size};

/// Why a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing was captured.
    #[error("the call has no captured media")]
    Empty,
    /// The client's video is in a codec this merge does not copy yet.
    #[error("client video codec {0} is not merged yet (VP8 only)")]
    Codec(String),
    /// libopus.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// libav*.
    #[error("ffmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
}

/// What a merge made.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// Length of the file, ms.
    pub duration_ms: i64,
    /// Stereo samples written (per channel).
    pub audio_samples: u64,
    /// Video frames copied.
    pub video: VideoStats,
    /// Video size (the first keyframe's).
    pub video_size: Option<(u32, u32)>,
    /// Client and agent audio frames that did not decode.
    pub decode_errors: u64,
    /// Torn bytes dropped from the captures.
    pub torn_bytes: usize,
}

/// Merges `captures` into a WebM at `out`.
pub fn merge(captures: &CallCaptures, out: &Path) -> Result<MergeReport, MergeError> {
    ffmpeg::init()?;
    let origin = captures.origin_us().ok_or(MergeError::Empty)?;
    if let Some(c) = captures
        .client_video
        .iter()
        .find(|c| c.header.codec != "vp8")
    {
        return Err(MergeError::Codec(c.header.codec.clone()));
    }
    let mut client = PartyAudio::new(&captures.client_audio, origin)?;
    let mut agent = PartyAudio::new(&captures.agent_audio, origin)?;
    let (frames, video_stats) = vp8_frames(&captures.client_video, origin);
    let video_size = frames
        .iter()
        .find(|f| f.key)
        .and_then(|f| vp8_size(&f.data));
    // The file lasts until the last media of anyone (video only when there is a video
    // stream: frames without a readable keyframe size are not written).
    let video_end_ms = if video_size.is_some() {
        frames.last().map_or(0, |f| f.pts_ms + 33)
    } else {
        0
    };
    let audio_end = client.end().max(agent.end());
    let total_samples =
        audio_end.max(u64::try_from(video_end_ms).unwrap_or(0) * u64::from(RATE) / 1000);

    let mut octx = format::output_as(out, "webm")?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

    let mut video_index = None;
    if let Some((w, h)) = video_size {
        let vp8 = encoder::find(codec::Id::VP8);
        let mut venc =
            codec::context::Context::new_with_codec(vp8.ok_or(ffmpeg::Error::EncoderNotFound)?)
                .encoder()
                .video()?;
        venc.set_width(w);
        venc.set_height(h);
        venc.set_format(format::Pixel::YUV420P);
        venc.set_time_base(Rational::new(1, 1000));
        let mut st = octx.add_stream(vp8)?;
        st.set_parameters(&venc);
        st.set_time_base(Rational::new(1, 1000));
        video_index = Some(st.index());
    }

    let opus_codec = encoder::find_by_name("libopus").ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut aenc = codec::context::Context::new_with_codec(opus_codec)
        .encoder()
        .audio()?;
    aenc.set_rate(RATE as i32);
    aenc.set_channel_layout(ChannelLayout::STEREO);
    aenc.set_format(format::Sample::I16(format::sample::Type::Packed));
    aenc.set_bit_rate(64_000);
    aenc.set_time_base(Rational::new(1, RATE as i32));
    if global_header {
        aenc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut aenc = aenc.open_as(opus_codec)?;
    let audio_index = {
        let mut st = octx.add_stream(opus_codec)?;
        st.set_parameters(&aenc);
        st.set_time_base(Rational::new(1, RATE as i32));
        st.index()
    };
    octx.write_header()?;
    let audio_tb = octx
        .stream(audio_index)
        .map(|s| s.time_base())
        .unwrap_or(Rational::new(1, 1000));
    let video_tb = video_index
        .and_then(|i| octx.stream(i).map(|s| s.time_base()))
        .unwrap_or(Rational::new(1, 1000));

    let mut left = vec![0i16; BLOCK];
    let mut right = vec![0i16; BLOCK];
    let mut block = frame::Audio::new(
        format::Sample::I16(format::sample::Type::Packed),
        BLOCK,
        ChannelLayout::STEREO,
    );
    block.set_rate(RATE);
    let mut written: u64 = 0;
    let mut next_video = 0;
    let mut packet = Packet::empty();
    let encoder_tb = Rational::new(1, RATE as i32);
    while written < total_samples {
        // Video frames due before this audio block go first.
        let block_ms = i64::try_from(written * 1000 / u64::from(RATE)).unwrap_or(i64::MAX);
        while let (Some(vi), Some(f)) = (video_index, frames.get(next_video)) {
            if f.pts_ms > block_ms {
                break;
            }
            let mut p = Packet::copy(&f.data);
            p.set_stream(vi);
            p.set_pts(Some(f.pts_ms));
            p.set_dts(Some(f.pts_ms));
            if f.key {
                p.set_flags(codec::packet::Flags::KEY);
            }
            p.rescale_ts(Rational::new(1, 1000), video_tb);
            p.write_interleaved(&mut octx)?;
            next_video += 1;
        }
        client.fill(&mut left);
        agent.fill(&mut right);
        {
            let data = block.data_mut(0);
            for i in 0..BLOCK {
                data[i * 4..i * 4 + 2].copy_from_slice(&left[i].to_le_bytes());
                data[i * 4 + 2..i * 4 + 4].copy_from_slice(&right[i].to_le_bytes());
            }
        }
        block.set_pts(Some(i64::try_from(written).unwrap_or(i64::MAX)));
        aenc.send_frame(&block)?;
        while aenc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(audio_index);
            packet.rescale_ts(encoder_tb, audio_tb);
            packet.write_interleaved(&mut octx)?;
        }
        written += BLOCK as u64;
    }
    aenc.send_eof()?;
    while aenc.receive_packet(&mut packet).is_ok() {
        packet.set_stream(audio_index);
        packet.rescale_ts(encoder_tb, audio_tb);
        packet.write_interleaved(&mut octx)?;
    }
    while let (Some(vi), Some(f)) = (video_index, frames.get(next_video)) {
        let mut p = Packet::copy(&f.data);
        p.set_stream(vi);
        p.set_pts(Some(f.pts_ms));
        p.set_dts(Some(f.pts_ms));
        if f.key {
            p.set_flags(codec::packet::Flags::KEY);
        }
        p.rescale_ts(Rational::new(1, 1000), video_tb);
        p.write_interleaved(&mut octx)?;
        next_video += 1;
    }
    octx.write_trailer()?;
    Ok(MergeReport {
        duration_ms: i64::try_from(written * 1000 / u64::from(RATE)).unwrap_or(i64::MAX),
        audio_samples: written,
        video: video_stats,
        video_size,
        decode_errors: client.decode_errors + agent.decode_errors,
        torn_bytes: captures.torn_bytes,
    })
}
