//! The one thing ffmpeg-next has no safe call for: a stream's parameters with
//! codec-specific extra data (the `OpusHead` of the two-stream track, H.264's
//! parameter sets). Everything here writes plain fields of an `AVCodecParameters` that
//! this module allocated and owns.

use ffmpeg_next::{self as ffmpeg, ChannelLayout, codec, ffi, media};

/// Parameters of a video stream of `id` at `width` x `height`, with `extradata` (none
/// when empty).
pub(super) fn video(
    id: codec::Id,
    width: u32,
    height: u32,
    extradata: &[u8],
) -> Result<codec::Parameters, ffmpeg::Error> {
    let mut params = codec::Parameters::new();
    params.set_medium(media::Type::Video);
    params.set_id(id);
    // SAFETY: plain fields of the AVCodecParameters `params` owns (see below).
    unsafe {
        let raw = params.as_mut_ptr();
        (*raw).width = i32::try_from(width).unwrap_or(0);
        (*raw).height = i32::try_from(height).unwrap_or(0);
    }
    if !extradata.is_empty() {
        set_extradata(&mut params, extradata)?;
    }
    Ok(params)
}

/// Parameters of a 48 kHz stereo Opus stream whose decoder setup is `extradata`.
pub(super) fn opus_stereo(extradata: &[u8]) -> Result<codec::Parameters, ffmpeg::Error> {
    let mut params = codec::Parameters::new();
    params.set_medium(media::Type::Audio);
    params.set_id(codec::Id::OPUS);
    // SAFETY: plain fields of the AVCodecParameters `params` owns.
    unsafe {
        let raw = params.as_mut_ptr();
        (*raw).sample_rate = 48_000;
        ffi::av_channel_layout_default(&mut (*raw).ch_layout, 2);
        #[allow(deprecated)]
        {
            (*raw).channels = 2;
            (*raw).channel_layout = ChannelLayout::STEREO.bits();
        }
    }
    set_extradata(&mut params, extradata)?;
    Ok(params)
}

fn set_extradata(params: &mut codec::Parameters, extradata: &[u8]) -> Result<(), ffmpeg::Error> {
    let len = extradata.len();
    let size = len + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: `params` owns a freshly allocated AVCodecParameters (non-null: ffmpeg-next
    // checks the allocation); the fields written are plain data, and `extradata` is
    // allocated with av_mallocz (zeroed padding included, as libavcodec requires) and
    // handed to the parameters, which free it with avcodec_parameters_free.
    unsafe {
        let raw = params.as_mut_ptr();
        ffi::av_freep((&raw mut (*raw).extradata).cast());
        let buf = ffi::av_mallocz(size).cast::<u8>();
        if buf.is_null() {
            return Err(ffmpeg::Error::Other { errno: ENOMEM });
        }
        std::ptr::copy_nonoverlapping(extradata.as_ptr(), buf, len);
        (*raw).extradata = buf;
        (*raw).extradata_size = len as i32;
    }
    Ok(())
}

/// Out of memory (errno).
const ENOMEM: i32 = 12;
