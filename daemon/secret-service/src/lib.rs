//! A keyring-core store for the freedesktop Secret Service (gnome-keyring, KeePassXC,
//! KWallet's bridge), over a small D-Bus client of its own: no libdbus to compile and link,
//! no zbus and async stack (docs/DECISIONS.md, "Keyring store").
//!
//! Items are found and made as keyring's Secret Service stores do, so entries that earlier
//! versions of sec (or any keyring-rs program) stored are found: attributes `service` and
//! `username`, the label `keyring:USER@SERVICE`, created in the collection aliased `default`.
//! Secrets cross the bus only inside the encrypted session ([`session`]).
//!
//! The client is blocking and does one call at a time: callers run it on a blocking thread.
//! A broken connection (the bus or the keyring restarted) is replaced on the next call.

mod bus;
mod session;
mod wire;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyring_core::api::{Credential, CredentialApi, CredentialStoreApi};
use keyring_core::{Entry, Error, Result};
use zeroize::Zeroizing;

use crate::bus::{Bus, BusError, Call};
use crate::session::{Keypair, SessionError, SessionKey};
use crate::wire::Value;

const SERVICE: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_INTERFACE: &str = "org.freedesktop.Secret.Service";
const ITEM_INTERFACE: &str = "org.freedesktop.Secret.Item";
const COLLECTION_INTERFACE: &str = "org.freedesktop.Secret.Collection";
const PROMPT_INTERFACE: &str = "org.freedesktop.Secret.Prompt";
/// The object path that means "none": no prompt needed, no such alias.
const NO_OBJECT: &str = "/";
/// How long one call may take (libdbus's default).
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long the user has to answer an unlock prompt the keychain shows.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(120);
const CONTENT_TYPE: &str = "text/plain";

#[derive(Debug, thiserror::Error)]
enum ServiceError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(
        "the keychain has no default collection; create one (log in to the desktop session once, or use seahorse)"
    )]
    NoDefaultCollection,
    #[error("the keychain's unlock prompt was dismissed")]
    Dismissed,
    #[error("the keychain's unlock prompt got no answer within {} s", PROMPT_TIMEOUT.as_secs())]
    PromptTimeout,
    #[error("no such item")]
    NoEntry,
    #[error("{} items match", .0.len())]
    Ambiguous(Vec<String>),
}

impl ServiceError {
    /// Whether the connection is stale (the bus or the keyring went away): worth one retry
    /// on a new connection.
    fn is_stale(&self) -> bool {
        match self {
            ServiceError::Bus(BusError::Io(_)) => true,
            ServiceError::Bus(BusError::Remote { name, .. }) => {
                name == "org.freedesktop.Secret.Error.NoSession"
            }
            _ => false,
        }
    }

    fn keeps_connection(&self) -> bool {
        match self {
            ServiceError::Bus(e) => e.connection_is_sound() && !self.is_stale(),
            ServiceError::Session(SessionError::Decrypt) => false,
            ServiceError::PromptTimeout => false,
            _ => true,
        }
    }

    fn into_keyring(self, shared: &Arc<Shared>) -> Error {
        match self {
            ServiceError::NoEntry => Error::NoEntry,
            ServiceError::Bus(BusError::NoAddress) => Error::NoDefaultStore,
            ServiceError::Ambiguous(paths) => Error::Ambiguous(
                paths
                    .into_iter()
                    .map(|path| Entry::new_with_credential(ItemCredential::shared(shared, path)))
                    .collect(),
            ),
            ServiceError::Bus(BusError::Remote { ref name, .. })
                if name == "org.freedesktop.Secret.Error.IsLocked" =>
            {
                Error::NoStorageAccess(Box::new(self))
            }
            e @ (ServiceError::Dismissed
            | ServiceError::PromptTimeout
            | ServiceError::NoDefaultCollection) => Error::NoStorageAccess(Box::new(e)),
            other => Error::PlatformFailure(Box::new(other)),
        }
    }
}

type Outcome<T> = std::result::Result<T, ServiceError>;

/// One connection with its open session.
struct Client {
    bus: Bus,
    session: String,
    key: SessionKey,
}

impl Client {
    fn connect() -> Outcome<Client> {
        let mut bus = Bus::session(CALL_TIMEOUT)?;
        let keypair = Keypair::generate()?;
        let reply = bus.call(Call {
            destination: SERVICE,
            path: SERVICE_PATH,
            interface: SERVICE_INTERFACE,
            member: "OpenSession",
            args: vec![
                Value::str(session::ALGORITHM),
                Value::Variant(Box::new(Value::Bytes(keypair.public.clone()))),
            ],
        })?;
        let (Some(theirs), Some(session)) = (
            reply.first().and_then(|v| v.unwrap_variant().as_bytes()),
            reply.get(1).and_then(Value::as_str),
        ) else {
            return Err(unexpected("OpenSession"));
        };
        let key = keypair.session_key(theirs)?;
        Ok(Client {
            bus,
            session: session.to_string(),
            key,
        })
    }

    fn call(
        &mut self,
        path: &str,
        interface: &str,
        member: &str,
        args: Vec<Value>,
    ) -> Outcome<Vec<Value>> {
        Ok(self.bus.call(Call {
            destination: SERVICE,
            path,
            interface,
            member,
            args,
        })?)
    }

    /// The items with exactly these attributes, unlocked (which may prompt the user).
    fn search(&mut self, attributes: &[(&str, &str)]) -> Outcome<Vec<String>> {
        let reply = self.call(
            SERVICE_PATH,
            SERVICE_INTERFACE,
            "SearchItems",
            vec![Value::string_dict(attributes.iter().copied())],
        )?;
        let (Some(unlocked), Some(locked)) =
            (reply.first().and_then(paths), reply.get(1).and_then(paths))
        else {
            return Err(unexpected("SearchItems"));
        };
        if !locked.is_empty() {
            self.unlock(&locked)?;
        }
        Ok(unlocked.into_iter().chain(locked).collect())
    }

    /// The one item with these attributes.
    fn unique(&mut self, attributes: &[(&str, &str)]) -> Outcome<String> {
        let mut found = self.search(attributes)?;
        match found.len() {
            0 => Err(ServiceError::NoEntry),
            1 => Ok(found.remove(0)),
            _ => Err(ServiceError::Ambiguous(found)),
        }
    }

    fn unlock(&mut self, objects: &[String]) -> Outcome<()> {
        let reply = self.call(
            SERVICE_PATH,
            SERVICE_INTERFACE,
            "Unlock",
            vec![Value::Array(
                "o".into(),
                objects.iter().map(|p| Value::path(p)).collect(),
            )],
        )?;
        self.prompt_in(&reply, 1)
    }

    /// Runs the prompt a reply names at `index` (`/` or nothing: none needed), a dialog of
    /// the keychain's own, waiting for the user's answer.
    fn prompt_in(&mut self, reply: &[Value], index: usize) -> Outcome<()> {
        let prompt = match reply.get(index).and_then(Value::as_str) {
            None | Some(NO_OBJECT) => return Ok(()),
            Some(prompt) => prompt,
        };
        let rule = format!(
            "type='signal',interface='{PROMPT_INTERFACE}',member='Completed',path='{prompt}'"
        );
        self.bus.call_bus("AddMatch", vec![Value::str(&rule)])?;
        let answered = self.answer(prompt);
        let _ = self.bus.call_bus("RemoveMatch", vec![Value::str(&rule)]);
        answered
    }

    /// Shows the prompt and waits for its Completed signal (dismissed on a timeout).
    fn answer(&mut self, prompt: &str) -> Outcome<()> {
        self.call(prompt, PROMPT_INTERFACE, "Prompt", vec![Value::str("")])?;
        let completed = self.bus.wait_for_signal(
            |m| {
                m.header.path.as_deref() == Some(prompt)
                    && m.header.member.as_deref() == Some("Completed")
            },
            Instant::now() + PROMPT_TIMEOUT,
            "the keychain's prompt",
        );
        let completed = match completed {
            Err(BusError::Timeout(_)) => {
                let _ = self.call(prompt, PROMPT_INTERFACE, "Dismiss", vec![]);
                return Err(ServiceError::PromptTimeout);
            }
            other => other?,
        };
        match completed.body.first().and_then(Value::as_bool) {
            Some(false) => Ok(()),
            _ => Err(ServiceError::Dismissed),
        }
    }

    fn get_secret(&mut self, item: &str) -> Outcome<Zeroizing<Vec<u8>>> {
        let session = Value::path(&self.session);
        let reply = self.call(item, ITEM_INTERFACE, "GetSecret", vec![session])?;
        let Some([_, Value::Bytes(iv), Value::Bytes(sealed), _]) =
            reply.first().and_then(Value::as_struct)
        else {
            return Err(unexpected("GetSecret"));
        };
        Ok(self.key.decrypt(iv, sealed)?)
    }

    /// The `(oayays)` secret struct for `plain`, encrypted.
    fn sealed(&self, plain: &[u8]) -> Outcome<Value> {
        let (iv, sealed) = self.key.encrypt(plain)?;
        Ok(Value::Struct(vec![
            Value::path(&self.session),
            Value::Bytes(iv),
            Value::Bytes(sealed),
            Value::str(CONTENT_TYPE),
        ]))
    }

    fn set_secret(&mut self, item: &str, plain: &[u8]) -> Outcome<()> {
        let secret = self.sealed(plain)?;
        self.call(item, ITEM_INTERFACE, "SetSecret", vec![secret])?;
        Ok(())
    }

    fn create_item(
        &mut self,
        label: &str,
        attributes: &[(&str, &str)],
        plain: &[u8],
    ) -> Outcome<()> {
        let reply = self.call(
            SERVICE_PATH,
            SERVICE_INTERFACE,
            "ReadAlias",
            vec![Value::str("default")],
        )?;
        let collection = match reply.first().and_then(Value::as_str) {
            Some(NO_OBJECT) | None => return Err(ServiceError::NoDefaultCollection),
            Some(path) => path.to_string(),
        };
        let locked = self.call(
            &collection,
            "org.freedesktop.DBus.Properties",
            "Get",
            vec![Value::str(COLLECTION_INTERFACE), Value::str("Locked")],
        )?;
        if locked
            .first()
            .map(Value::unwrap_variant)
            .and_then(Value::as_bool)
            != Some(false)
        {
            self.unlock(std::slice::from_ref(&collection))?;
        }
        let property = |name: &str, value: Value| {
            Value::DictEntry(
                Box::new(Value::str(name)),
                Box::new(Value::Variant(Box::new(value))),
            )
        };
        let properties = Value::Array(
            "{sv}".into(),
            vec![
                property("org.freedesktop.Secret.Item.Label", Value::str(label)),
                property(
                    "org.freedesktop.Secret.Item.Attributes",
                    Value::string_dict(attributes.iter().copied()),
                ),
            ],
        );
        let secret = self.sealed(plain)?;
        let reply = self.call(
            &collection,
            COLLECTION_INTERFACE,
            "CreateItem",
            vec![properties, secret, Value::Bool(true)],
        )?;
        self.prompt_in(&reply, 1)
    }

    fn delete(&mut self, item: &str) -> Outcome<()> {
        let reply = self.call(item, ITEM_INTERFACE, "Delete", vec![])?;
        self.prompt_in(&reply, 0)
    }
}

fn paths(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn unexpected(what: &str) -> ServiceError {
    ServiceError::Bus(BusError::Unexpected(format!("{SERVICE_INTERFACE}.{what}")))
}

/// The connection the store's entries share, made on first use and replaced when it breaks.
struct Shared {
    client: Mutex<Option<Client>>,
}

impl Shared {
    fn with_client<T>(self: &Arc<Self>, op: impl Fn(&mut Client) -> Outcome<T>) -> Result<T> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut retried = false;
        loop {
            let client = match slot.as_mut() {
                Some(client) => client,
                None => slot.insert(Client::connect().map_err(|e| e.into_keyring(self))?),
            };
            match op(client) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    if !e.keeps_connection() {
                        *slot = None;
                    }
                    if e.is_stale() && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(e.into_keyring(self));
                }
            }
        }
    }
}

/// The Secret Service store: `Store::new()` connects and opens a session, so a store that
/// exists had a keychain answering.
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(Secret Service)")
    }
}

impl Store {
    pub fn new() -> Result<Arc<Store>> {
        let shared = Arc::new(Shared {
            client: Mutex::new(None),
        });
        shared.with_client(|_| Ok(()))?;
        Ok(Arc::new(Store { shared }))
    }
}

impl CredentialStoreApi for Store {
    fn vendor(&self) -> String {
        "sec's Secret Service store".into()
    }

    fn id(&self) -> String {
        "sec-secret-service".into()
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        _modifiers: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        Ok(Entry::new_with_credential(Arc::new(Specifier {
            shared: Arc::clone(&self.shared),
            service: service.to_string(),
            user: user.to_string(),
        })))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An entry named by service and user: the item with those attributes.
struct Specifier {
    shared: Arc<Shared>,
    service: String,
    user: String,
}

impl std::fmt::Debug for Specifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Specifier({}/{})", self.service, self.user)
    }
}

impl Specifier {
    fn attributes(&self) -> [(&str, &str); 2] {
        [("service", &self.service), ("username", &self.user)]
    }
}

impl CredentialApi for Specifier {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        let label = format!("keyring:{}@{}", self.user, self.service);
        self.shared
            .with_client(|c| match c.unique(&self.attributes()) {
                Ok(item) => c.set_secret(&item, secret),
                Err(ServiceError::NoEntry) => c.create_item(&label, &self.attributes(), secret),
                Err(e) => Err(e),
            })
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        self.shared.with_client(|c| {
            let item = c.unique(&self.attributes())?;
            Ok(c.get_secret(&item)?.to_vec())
        })
    }

    fn delete_credential(&self) -> Result<()> {
        self.shared.with_client(|c| {
            let item = c.unique(&self.attributes())?;
            c.delete(&item)
        })
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        let item = self.shared.with_client(|c| c.unique(&self.attributes()))?;
        Ok(Some(ItemCredential::shared(&self.shared, item)))
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One item by its object path (what an ambiguous search offers).
struct ItemCredential {
    shared: Arc<Shared>,
    path: String,
}

impl std::fmt::Debug for ItemCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Item({})", self.path)
    }
}

impl ItemCredential {
    fn shared(shared: &Arc<Shared>, path: String) -> Arc<Credential> {
        Arc::new(ItemCredential {
            shared: Arc::clone(shared),
            path,
        })
    }
}

impl CredentialApi for ItemCredential {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.shared
            .with_client(|c| c.set_secret(&self.path, secret))
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        self.shared
            .with_client(|c| Ok(c.get_secret(&self.path)?.to_vec()))
    }

    fn delete_credential(&self) -> Result<()> {
        self.shared.with_client(|c| c.delete(&self.path))
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        Ok(None)
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        None
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
