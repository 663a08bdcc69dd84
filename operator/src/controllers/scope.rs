//! Which namespaces a controller serves: one, or all. Every `Api` a controller opens (its own
//! kind, its children, what it refers to) comes from here, so they always agree.

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Client, Resource};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    namespace: Option<String>,
}

impl Scope {
    /// `None` serves every namespace.
    pub fn new(namespace: Option<&str>) -> Self {
        Self {
            namespace: namespace.map(str::to_string),
        }
    }

    /// The namespace served, `None` for all.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// An `Api` of `K` over this scope.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        }
    }
}
