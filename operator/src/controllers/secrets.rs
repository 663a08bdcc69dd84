//! Reading one key of a user's Secret, as every kind that copies credentials does. A missing
//! Secret or key is the user's to fix, so it is a [`Blocker`] naming the field that refers to
//! it; the value itself never appears in a message.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::{Blocker, Error, Step};

/// The value of `key` in Secret `name`. `what` names the referring field in messages, e.g.
/// `providers[openai].apiKeySecretRef`.
pub async fn read_key(
    secrets: &Api<Secret>,
    name: &str,
    key: &str,
    what: &str,
) -> Result<Step<Vec<u8>>, Error> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|source| Error::resolve(format!("{what}: Secret {name}"), source))?;
    let Some(secret) = secret else {
        return Ok(Step::Blocked(Blocker::new(
            "SecretNotFound",
            format!("{what}: Secret {name} not found"),
        )));
    };
    Ok(match value_of(&secret, key) {
        Some(value) => Step::Ready(value),
        None => Step::Blocked(Blocker::new(
            "SecretKeyMissing",
            format!("{what}: Secret {name} has no key {key}"),
        )),
    })
}

/// The value of `key`. Only `data` counts: `stringData` is write-only, the API server folds it
/// into `data` and never returns it.
fn value_of(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret.data.as_ref()?.get(key).map(|value| value.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn a_key_is_read_from_data_only() {
        let secret = Secret {
            data: Some(BTreeMap::from([(
                "k".to_string(),
                ByteString(b"v".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([("s".to_string(), "w".to_string())])),
            ..Secret::default()
        };
        assert_eq!(value_of(&secret, "k"), Some(b"v".to_vec()));
        assert_eq!(value_of(&secret, "s"), None);
        assert_eq!(value_of(&Secret::default(), "k"), None);
    }
}
