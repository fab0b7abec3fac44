"""Users of a tenant: SCIM 2.0 provisioning and developer-portal self sign-up."""
