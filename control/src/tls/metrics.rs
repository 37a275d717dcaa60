//! The certificate's end and ACME's work in the Prometheus text format, for the
//! alert that fires well before a certificate ends unrenewed.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Certificates;
use super::acme::Acme;

/// The lines for `/metrics`.
pub fn render(certs: &Certificates, acme: Option<&Acme>) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "# HELP vchat_tls_certificate_not_after_seconds When the certificate in use for HTTPS and TURNS ends (Unix time).\n\
         # TYPE vchat_tls_certificate_not_after_seconds gauge\n\
         vchat_tls_certificate_not_after_seconds {}\n\
         # HELP vchat_tls_certificate_trusted Whether that certificate is one browsers trust (files or ACME; 0 for self-signed).\n\
         # TYPE vchat_tls_certificate_trusted gauge\n\
         vchat_tls_certificate_trusted {}\n",
        certs.not_after(),
        u8::from(certs.trusted())
    );
    if let Some(acme) = acme {
        let _ = write!(
            text,
            "# HELP vchat_acme_certificates_total Certificates obtained from the ACME CA.\n\
             # TYPE vchat_acme_certificates_total counter\n\
             vchat_acme_certificates_total {}\n\
             # HELP vchat_acme_failures_total ACME orders that failed (the log and tls/acme/status.json say why).\n\
             # TYPE vchat_acme_failures_total counter\n\
             vchat_acme_failures_total {}\n",
            acme.counters.issued.load(Ordering::Relaxed),
            acme.counters.failed.load(Ordering::Relaxed)
        );
    }
    text
}
