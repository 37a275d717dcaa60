//! DTLS failures that have a cause people can act on, said in their words.
//!
//! vchat's DTLS is str0m's (dimpl, on aws-lc-rs). It verifies only ECDSA client
//! certificates: its CertificateRequest names `ecdsa_sign` alone, and str0m offers no
//! option to change that. Every browser makes ECDSA (P-256) certificates, but WebRTC
//! allows RSA, and some clients make RSA by default (GStreamer's webrtcbin, through
//! OpenSSL). Such a client answers the request with no certificate, and the handshake
//! can never complete; without this it would only time out.

/// What to tell the client and the operator about a DTLS error, when its cause is
/// known; `None` for errors that are about one bad datagram.
pub(crate) fn explain(error: &str) -> Option<&'static str> {
    let e = error.to_ascii_lowercase();
    let about_certificate = e.contains("no client certificate")
        || (e.contains("certificate") && (e.contains("rsa") || e.contains("unsupported")));
    about_certificate.then_some(
        "the client's DTLS certificate is not ECDSA: this server verifies only ECDSA (P-256) \
         certificates, which every browser uses; a client that makes RSA certificates \
         (GStreamer's webrtcbin does by default) must be given an ECDSA one",
    )
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn certificate_refusals_are_explained_and_other_errors_are_not() {
        // What dimpl says when an RSA client (webrtcbin) sends an empty Certificate.
        let why = explain("DTLS error: certificate error: no client certificate received");
        assert!(why.is_some_and(|w| w.contains("RSA") && w.contains("ECDSA")));
        assert!(explain("DTLS error: certificate error: unsupported RSA key").is_some());
        assert_eq!(
            explain("DTLS error: security error: received fatal alert: description=48"),
            None
        );
        assert_eq!(explain("DTLS error: timeout: handshake"), None);
        assert_eq!(explain("SRTP: replayed packet"), None);
    }
}
