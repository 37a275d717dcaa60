//! Narrowband and wideband audio brought to the merge's 48 kHz: a polyphase
//! interpolator by a whole factor (6 from G.711's 8 kHz, 3 from 16 kHz), its
//! low-pass a Blackman-windowed sinc that keeps the speech band flat and takes the
//! images of the lower rate out (more than 60 dB down from 10 % above its Nyquist).
//!
//! Offline work (the merge runs after the call): one multiply-add per tap and
//! output sample, nothing allocated after [`Upsampler::new`].

use std::collections::VecDeque;

/// Input samples each output sample is made from.
const TAPS_PER_PHASE: usize = 48;
/// The pass band's edge, as a share of the input's Nyquist frequency.
const CUTOFF: f64 = 0.9;

/// Interpolates one party's audio by a whole factor.
pub struct Upsampler {
    factor: usize,
    /// Filter taps, phase after phase: `taps[p * TAPS_PER_PHASE + k]` weighs the
    /// input `k` samples back for output phase `p`.
    taps: Box<[f32]>,
    /// The last inputs, newest at `at - 1`, twice over so a window is one slice.
    history: Box<[f32]>,
    at: usize,
}

impl Upsampler {
    /// An interpolator from `rate` to `rate * factor`.
    pub fn new(factor: usize) -> Upsampler {
        let factor = factor.max(1);
        let len = factor * TAPS_PER_PHASE;
        let centre = (len - 1) as f64 / 2.0;
        // Cut-off in cycles per output sample.
        let fc = CUTOFF / (2.0 * factor as f64);
        let mut prototype = vec![0f64; len];
        for (n, h) in prototype.iter_mut().enumerate() {
            let x = n as f64 - centre;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let w = n as f64 / (len - 1) as f64;
            let blackman = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * w).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * w).cos();
            *h = sinc * blackman;
        }
        // Each phase sums to one: a constant input stays that constant.
        let mut taps = vec![0f32; len];
        for p in 0..factor {
            let sum: f64 = (0..TAPS_PER_PHASE).map(|k| prototype[k * factor + p]).sum();
            for k in 0..TAPS_PER_PHASE {
                taps[p * TAPS_PER_PHASE + k] = (prototype[k * factor + p] / sum) as f32;
            }
        }
        Upsampler {
            factor,
            taps: taps.into(),
            history: vec![0.0; 2 * TAPS_PER_PHASE].into(),
            at: 0,
        }
    }

    /// How many output samples the filter lags its input by.
    pub fn delay(&self) -> usize {
        (self.factor * TAPS_PER_PHASE - 1) / 2
    }

    /// Interpolates `input`, appending `factor` samples per input sample to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut VecDeque<i16>) {
        if self.factor == 1 {
            out.extend(input);
            return;
        }
        for &x in input {
            // The window, newest first, is history[at..at + TAPS] after this write.
            self.at = if self.at == 0 {
                TAPS_PER_PHASE - 1
            } else {
                self.at - 1
            };
            self.history[self.at] = f32::from(x);
            self.history[self.at + TAPS_PER_PHASE] = f32::from(x);
            let window = &self.history[self.at..self.at + TAPS_PER_PHASE];
            for p in 0..self.factor {
                let taps = &self.taps[p * TAPS_PER_PHASE..(p + 1) * TAPS_PER_PHASE];
                let y: f32 = taps.iter().zip(window).map(|(h, x)| h * x).sum();
                out.push_back(y.round().clamp(-32768.0, 32767.0) as i16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The level of `hz` in `signal` (sampled at `rate`), by correlation.
    fn level(signal: &[i16], rate: f64, hz: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in signal.iter().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * hz * i as f64 / rate;
            re += f64::from(s) * phase.cos();
            im += f64::from(s) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / signal.len() as f64
    }

    fn upsampled(hz: f64, factor: usize) -> Vec<i16> {
        let rate = 48_000.0 / factor as f64;
        let input: Vec<i16> = (0..(rate as usize))
            .map(|i| ((2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin() * 10_000.0) as i16)
            .collect();
        let mut up = Upsampler::new(factor);
        let mut out = VecDeque::new();
        // In uneven pieces, as packets come.
        for piece in input.chunks(157) {
            up.process(piece, &mut out);
        }
        assert_eq!(out.len(), input.len() * factor);
        // Past the filter's start-up.
        out.into_iter().skip(1000).collect()
    }

    #[test]
    fn a_narrowband_tone_keeps_its_level_and_loses_its_images() {
        for hz in [300.0, 1000.0, 3000.0] {
            let out = upsampled(hz, 6);
            let tone = level(&out, 48_000.0, hz);
            assert!(
                (tone - 10_000.0).abs() < 300.0,
                "{hz} Hz came out at {tone:.0}"
            );
            // The images of 8 kHz sampling, at 8k ± f and 16k ± f.
            for image in [8000.0 - hz, 8000.0 + hz, 16_000.0 - hz, 16_000.0 + hz] {
                let db = 20.0 * (level(&out, 48_000.0, image) / tone).log10();
                assert!(db < -50.0, "{hz} Hz: its image at {image} Hz is {db:.0} dB");
            }
        }
    }

    #[test]
    fn a_wideband_tone_goes_through_too() {
        let out = upsampled(5000.0, 3);
        let tone = level(&out, 48_000.0, 5000.0);
        assert!((tone - 10_000.0).abs() < 300.0, "{tone:.0}");
        let db = 20.0 * (level(&out, 48_000.0, 11_000.0) / tone).log10();
        assert!(db < -50.0, "the image at 11 kHz: {db:.0} dB");
    }

    #[test]
    fn a_factor_of_one_copies() {
        let mut up = Upsampler::new(1);
        let mut out = VecDeque::new();
        up.process(&[1, 2, 3], &mut out);
        assert_eq!(out, [1, 2, 3]);
    }
}
