//! The active speaker of a room, from the audio levels browsers put on every Opus
//! packet (RFC 6464: 0 is the loudest, 127 silence, in −dBov; and a voice-activity
//! flag).
//!
//! Each published audio track sums its levels between ticks (two additions per
//! packet); at each tick the room's loudest voiced track becomes the speaker if it
//! beats the current one clearly, or the current one has gone quiet. The change is
//! signalled to everyone in the room.

/// Levels quieter than this (−dBov) are not speech.
const SPEECH_LEVEL: u8 = 60;
/// Share of voiced packets that makes a tick of speech.
const VOICED_SHARE: f64 = 0.3;
/// How much louder (in the meter's units) a new speaker must be to take over.
const TAKE_OVER: f64 = 8.0;

/// One audio track's levels since the last tick.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpeakerMeter {
    loudness: u32,
    packets: u32,
    voiced: u32,
}

impl SpeakerMeter {
    /// Notes a packet's level and voice flag (`None`: the extension is absent).
    pub(crate) fn add(&mut self, level: Option<i8>, voice: Option<bool>) {
        let Some(level) = level else {
            return;
        };
        let level = level.unsigned_abs().min(127);
        self.packets += 1;
        if level <= SPEECH_LEVEL && voice != Some(false) {
            self.voiced += 1;
            self.loudness += u32::from(127 - level);
        }
    }

    /// This tick's score (0: not speaking), and starts the next tick.
    pub(crate) fn take(&mut self) -> f64 {
        let score = if self.packets == 0
            || f64::from(self.voiced) / f64::from(self.packets) < VOICED_SHARE
        {
            0.0
        } else {
            f64::from(self.loudness) / f64::from(self.voiced.max(1))
        };
        *self = SpeakerMeter::default();
        score
    }
}

/// Whether `candidate` (its score) should replace `current` as the speaker.
pub(crate) fn takes_over(current: Option<f64>, candidate: f64) -> bool {
    candidate > 0.0
        && match current {
            None => true,
            Some(c) if c <= 0.0 => true,
            Some(c) => candidate > c + TAKE_OVER,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loud_voiced_audio_scores_and_silence_does_not() {
        let mut m = SpeakerMeter::default();
        for _ in 0..10 {
            m.add(Some(-30), Some(true));
        }
        assert_eq!(m.take(), 97.0);
        for _ in 0..10 {
            m.add(Some(-127), Some(false));
        }
        assert_eq!(m.take(), 0.0);
        m.add(None, None);
        assert_eq!(m.take(), 0.0);
    }

    #[test]
    fn a_speaker_is_replaced_only_by_a_clearly_louder_one_or_when_quiet() {
        assert!(takes_over(None, 50.0));
        assert!(!takes_over(Some(90.0), 95.0));
        assert!(takes_over(Some(80.0), 95.0));
        assert!(takes_over(Some(0.0), 40.0));
        assert!(!takes_over(None, 0.0));
    }
}
