//! Packet-loss concealment for PCM audio, after G.711 Appendix I: a lost 20 ms slot
//! is filled by repeating the last pitch period heard, faded in and out so that no
//! click is audible, and attenuated the longer the loss lasts (full for 10 ms, then
//! 20 % less every 10 ms, silent after 60 ms).
//!
//! - [`Concealer::good`] takes every slot that did arrive (and smooths the join after a
//!   loss);
//! - [`Concealer::conceal`] makes one slot up.
//!
//! Works at any rate (8 kHz G.711, 16 kHz L16); nothing allocates after
//! [`Concealer::new`]. The pitch search (normalized cross-correlation, 2.5–15 ms) runs
//! once per loss, not per slot.

/// History kept, in milliseconds (Appendix I keeps 48.75 ms).
const HISTORY_MS: usize = 48;
/// Pitch periods searched, in tenths of a millisecond.
const PITCH_MIN_TENTHS: usize = 25;
const PITCH_MAX_TENTHS: usize = 150;
/// Full level for this long into a loss; then 20 % less per 10 ms; silence at 60 ms.
const FULL_MS: usize = 10;
const SILENT_MS: usize = 60;

/// One call's concealment state, for PCM at one rate.
pub struct Concealer {
    /// Samples per millisecond.
    per_ms: usize,
    history: Box<[i16]>,
    /// The pitch period of the current loss, in samples.
    pitch: usize,
    /// Where the repetition is within the period.
    pos: usize,
    /// Samples concealed in the current loss (0: none).
    erased: usize,
}

impl Concealer {
    /// A concealer for PCM at `clock` Hz.
    pub fn new(clock: u32) -> Concealer {
        let per_ms = (clock as usize / 1000).max(1);
        Concealer {
            per_ms,
            history: vec![0; HISTORY_MS * per_ms].into(),
            pitch: per_ms * 10,
            pos: 0,
            erased: 0,
        }
    }

    /// Whether the last slot was made up.
    pub fn concealing(&self) -> bool {
        self.erased > 0
    }

    /// A slot that arrived. After a loss its start is cross-faded with the
    /// continuation of the made-up signal (a quarter period, plus 4 ms per 10 ms of
    /// loss), so the real signal comes back without a click.
    pub fn good(&mut self, frame: &mut [i16]) {
        if self.erased > 0 {
            let ola = (self.pitch / 4 + 4 * self.per_ms * self.erased / (10 * self.per_ms))
                .min(frame.len());
            let gain = self.gain();
            for (i, sample) in frame.iter_mut().take(ola).enumerate() {
                let synthetic = self.next_synthetic() as f32 * gain;
                let w = (i + 1) as f32 / (ola + 1) as f32;
                *sample = (synthetic * (1.0 - w) + *sample as f32 * w) as i16;
            }
            self.erased = 0;
        }
        self.remember(frame);
    }

    /// Makes up one slot of `out.len()` samples.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.erased == 0 {
            self.pitch = self.find_pitch();
            self.pos = 0;
        }
        let first = self.erased == 0;
        let fade_in = self.pitch / 4;
        for (i, sample) in out.iter_mut().enumerate() {
            let gain = self.gain();
            let mut s = self.next_synthetic() as f32 * gain;
            if first && i < fade_in {
                // The repetition's start overlaps the last real samples.
                let last = self.history[self.history.len() - 1] as f32;
                let w = (i + 1) as f32 / (fade_in + 1) as f32;
                s = last * (1.0 - w) + s * w;
            }
            *sample = s as i16;
            self.erased += 1;
        }
        // The history stays as it was at the loss: repeating its last period from
        // `pos` continues the made-up signal where this slot stopped.
    }

    fn gain(&self) -> f32 {
        let ms = self.erased / self.per_ms;
        if ms < FULL_MS {
            1.0
        } else if ms >= SILENT_MS {
            0.0
        } else {
            1.0 - 0.2 * ((ms - FULL_MS) as f32 / 10.0)
        }
    }

    /// The next sample of the repeated period (of the history as it was at the loss).
    fn next_synthetic(&mut self) -> i16 {
        let start = self.history.len() - self.pitch;
        let s = self.history[start + self.pos];
        self.pos = (self.pos + 1) % self.pitch;
        s
    }

    fn remember(&mut self, frame: &[i16]) {
        let n = frame.len().min(self.history.len());
        self.history.copy_within(n.., 0);
        let at = self.history.len() - n;
        self.history[at..].copy_from_slice(&frame[frame.len() - n..]);
    }

    /// The pitch period of the end of the history: the lag of the best normalized
    /// cross-correlation of its last 20 ms with the 20 ms before, 2.5–15 ms.
    fn find_pitch(&self) -> usize {
        let min = PITCH_MIN_TENTHS * self.per_ms / 10;
        let max = (PITCH_MAX_TENTHS * self.per_ms / 10).min(self.history.len() / 2);
        let window = (20 * self.per_ms).min(self.history.len() - max);
        let end = self.history.len();
        let target = &self.history[end - window..];
        let mut best = (max, f64::MIN);
        for lag in min..=max {
            let cand = &self.history[end - window - lag..end - lag];
            let (mut xy, mut yy) = (0f64, 0f64);
            for (x, y) in target.iter().zip(cand) {
                xy += *x as f64 * *y as f64;
                yy += *y as f64 * *y as f64;
            }
            if yy <= 0.0 {
                continue;
            }
            let score = xy / yy.sqrt();
            if score > best.1 {
                best = (lag, score);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, from: usize, out: &mut [i16]) {
        for (i, s) in out.iter_mut().enumerate() {
            let t = (from + i) as f64 / 8000.0;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
        }
    }

    fn snr(reference: &[i16], got: &[i16]) -> f64 {
        let (mut sig, mut err) = (0f64, 0f64);
        for (r, g) in reference.iter().zip(got) {
            sig += (*r as f64).powi(2);
            err += (*r as f64 - *g as f64).powi(2);
        }
        10.0 * (sig / err.max(1.0)).log10()
    }

    #[test]
    fn a_lost_slot_of_a_tone_is_made_up_close_to_what_was_lost() {
        let mut plc = Concealer::new(8000);
        let mut frame = [0i16; 160];
        for n in 0..5 {
            tone(500.0, n * 160, &mut frame);
            plc.good(&mut frame);
        }
        let mut made_up = [0i16; 160];
        plc.conceal(&mut made_up);
        let mut lost = [0i16; 160];
        tone(500.0, 5 * 160, &mut lost);
        // Past the fade-in the repetition follows the tone (it is periodic).
        let s = snr(&lost[40..], &made_up[40..]);
        assert!(s > 20.0, "SNR {s:.1} dB");
        assert!(plc.concealing());
    }

    #[test]
    fn a_long_loss_fades_to_silence() {
        let mut plc = Concealer::new(8000);
        let mut frame = [0i16; 160];
        for n in 0..5 {
            tone(300.0, n * 160, &mut frame);
            plc.good(&mut frame);
        }
        let mut out = [0i16; 160];
        let mut peaks = Vec::new();
        for _ in 0..4 {
            plc.conceal(&mut out);
            peaks.push(out.iter().map(|s| s.unsigned_abs()).max().unwrap());
        }
        assert!(peaks[0] > 7000, "{peaks:?}");
        assert!(peaks[1] < peaks[0] && peaks[2] < peaks[1], "{peaks:?}");
        assert_eq!(peaks[3], 0, "{peaks:?}");
        // The real signal comes back without a jump from the made-up one.
        tone(300.0, 9 * 160, &mut frame);
        let first = frame[0];
        plc.good(&mut frame);
        assert!(!plc.concealing());
        assert!(frame[0].unsigned_abs() <= first.unsigned_abs() + 1);
    }
}
