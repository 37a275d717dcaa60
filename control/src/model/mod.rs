//! The control plane's records: what the store keeps and the API shows.

pub mod cdr;
pub mod connector;
pub mod device;
pub mod event;
pub mod file;
pub mod interaction;
pub mod link;
pub mod message;
pub mod recording;
pub mod tenant;
pub mod user;

pub use cdr::Cdr;
pub use connector::Connector;
pub use device::Device;
pub use event::Event;
pub use file::FileMeta;
pub use interaction::{Interaction, State};
pub use link::Link;
pub use message::ChatMessage;
pub use recording::{Recording, RecordingState};
pub use tenant::Tenant;
pub use user::{ApiToken, Role, Session, TokenScope, User};

/// Declares the fields filters may use on a record type: a typed constant each
/// (`Interaction::AGENT`), and the list the engines index (`INDEXED`).
macro_rules! fields {
    ($ty:ty { $($konst:ident: $name:literal),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("The `", $name, "` field, for filters.")]
                pub const $konst: $crate::store::Field<$ty> = $crate::store::Field::new($name);
            )*
            /// The fields filters may use; the engines index them.
            pub const INDEXED: &'static [&'static str] = &[$($name),*];
        }
    };
}
pub(crate) use fields;

/// Implements [`crate::store::Record`] for a struct with `id` and `tenant` fields
/// whose filter fields `fields!` declared.
macro_rules! record {
    ($ty:ty, $coll:expr) => {
        impl $crate::store::Record for $ty {
            const COLLECTION: $crate::store::Collection = $coll;
            const FIELDS: &'static [&'static str] = <$ty>::INDEXED;
            fn id(&self) -> &str {
                &self.id
            }
            fn tenant(&self) -> &str {
                &self.tenant
            }
        }
    };
}
pub(crate) use record;
