"""Drives ZenML 0.30.0's own secrets managers for keystack's interop tier (test/interop/).

Reads one JSON batch on stdin and prints one JSON result per operation, as a JSON list on stdout:

    {"backend": "aws" | "vault" | ...,
     "connection": {...backend settings: endpoint, region, url, token, mount_point...},
     "ops": [{"manager": {"scope": "component", "namespace": null, "uuid": "...", "name": "..."},
              "op": "register" | "get" | "list" | "update" | "delete" | "delete_all",
              "schema": "arbitrary", "name": "secret name", "values": {...}}, ...]}

    -> [{"ok": true, "result": ...} | {"ok": false, "error": "KeyError", "message": "..."}, ...]

`get` returns {"schema": TYPE, "content": secret.content} with pydantic's types kept (a boolean
stays a JSON boolean), `list` the sorted names. The managers are built the way ZenML builds a stack
component (StackComponent(name, id, config, flavor, type, user, project, created, updated)); only
their SDK clients are preset, because ZenML 0.30's clients take no endpoint. One process serves a
whole batch: importing zenml costs a few seconds.

To add a backend: write a `make_<backend>(connection, config_kwargs, component_kwargs)` that
returns a manager, and add it to MAKERS.
"""
import json
import os
import sys
import tempfile
import traceback
import uuid
from datetime import datetime

# Before zenml is imported: no analytics, no global config in the user's home, no cloud metadata.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("ZENML_CONFIG_PATH", tempfile.mkdtemp(prefix="zenml-interop-"))
os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "ERROR")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("METADATA_SERVER_DETECTION", "none")

from zenml.enums import StackComponentType  # noqa: E402
from zenml.secret.secret_schema_class_registry import SecretSchemaClassRegistry  # noqa: E402

PROJECT = uuid.uuid4()


def activate_integrations_once():
    # A schema ZenML does not know (mysql) makes SecretSchemaClassRegistry.get_class activate every
    # installed integration before it gives up, which scans all installed distributions (seconds,
    # each time). Activation registers the same classes every time, so after the first one the
    # outcome (the same KeyError) does not depend on repeating it; only the cost does.
    from zenml.integrations.registry import integration_registry

    activate = integration_registry.activate_integrations
    done = []

    def once():
        if not done:
            activate()
            done.append(True)

    integration_registry.activate_integrations = once


activate_integrations_once()


def component_kwargs(manager, flavor):
    now = datetime.now()
    return dict(
        name=manager["name"],
        id=uuid.UUID(manager["uuid"]),
        flavor=flavor,
        type=StackComponentType.SECRETS_MANAGER,
        user=None,
        project=PROJECT,
        created=now,
        updated=now,
    )


def scope_kwargs(manager):
    out = {"scope": manager["scope"]}
    if manager.get("namespace"):
        out["namespace"] = manager["namespace"]
    return out


def make_aws(connection, manager):
    import boto3
    from zenml.integrations.aws.flavors.aws_secrets_manager_flavor import AWSSecretsManagerConfig
    from zenml.integrations.aws.secrets_managers.aws_secrets_manager import AWSSecretsManager

    if AWSSecretsManager.CLIENT is None:
        # ZenML creates this class-level client from region_name alone; the emulator needs an
        # endpoint and static credentials, so the client is preset (ZenML then uses it as is).
        AWSSecretsManager.CLIENT = boto3.client(
            "secretsmanager",
            endpoint_url=connection["endpoint"],
            region_name=connection["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    config = AWSSecretsManagerConfig(region_name=connection["region"], **scope_kwargs(manager))
    return AWSSecretsManager(config=config, **component_kwargs(manager, "aws"))


def make_vault(connection, manager):
    import hvac
    from zenml.integrations.vault.flavors.vault_secrets_manager_flavor import VaultSecretsManagerConfig
    from zenml.integrations.vault.secrets_manager.vault_secrets_manager import VaultSecretsManager

    if VaultSecretsManager.CLIENT is None:
        # The same client ZenML would create from url and token; preset so that it is one per process
        # on purpose rather than by ZenML's class-level singleton.
        VaultSecretsManager.CLIENT = hvac.Client(url=connection["url"], token=connection["token"])
    config = VaultSecretsManagerConfig(
        url=connection["url"], token=connection["token"], mount_point=connection["mount_point"], **scope_kwargs(manager)
    )
    return VaultSecretsManager(config=config, **component_kwargs(manager, "vault"))


def make_gcp(connection, manager):
    import grpc
    from google.cloud import secretmanager
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
        SecretManagerServiceGrpcTransport,
    )
    from zenml.integrations.gcp.flavors.gcp_secrets_manager_flavor import GCPSecretsManagerConfig
    from zenml.integrations.gcp.secrets_manager.gcp_secrets_manager import GCPSecretsManager

    if GCPSecretsManager.CLIENT is None:
        # ZenML creates this class-level client with default credentials and the public endpoint;
        # the emulator (or in-repo double) speaks plain-text gRPC on loopback, so the client is
        # preset on an insecure channel (no credentials are looked up with an explicit transport).
        channel = grpc.insecure_channel(connection["endpoint"])
        GCPSecretsManager.CLIENT = secretmanager.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )
    config = GCPSecretsManagerConfig(project_id=connection["project_id"], **scope_kwargs(manager))
    return GCPSecretsManager(config=config, **component_kwargs(manager, "gcp"))


class _StaticToken:
    """A fixed bearer token, as the emulator expects, instead of DefaultAzureCredential."""

    def __init__(self, token):
        self._token = token

    def get_token(self, *scopes, **kwargs):
        import time
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)


def make_azure(connection, manager):
    from azure.keyvault.secrets import SecretClient
    from zenml.integrations.azure.flavors.azure_secrets_manager_flavor import AzureSecretsManagerConfig
    from zenml.integrations.azure.secrets_managers.azure_secrets_manager import AzureSecretsManager

    if AzureSecretsManager.CLIENT is None:
        # ZenML builds https://<key_vault_name>.vault.azure.net with DefaultAzureCredential; the
        # emulator is https://localhost:PORT with a self-signed certificate and a static token, and its
        # bearer challenge names https://vault.azure.net, which the SDK would refuse for localhost.
        AzureSecretsManager.CLIENT = SecretClient(
            vault_url=connection["vault_url"],
            credential=_StaticToken(connection["token"]),
            connection_verify=connection["ca_file"],
            verify_challenge_resource=False,
        )
    config = AzureSecretsManagerConfig(key_vault_name="emulator", **scope_kwargs(manager))
    return AzureSecretsManager(config=config, **component_kwargs(manager, "azure"))


MAKERS = {"aws": make_aws, "vault": make_vault, "gcp": make_gcp, "azure": make_azure}


def build_secret(schema, name, values):
    cls = SecretSchemaClassRegistry.get_class(secret_schema=schema)
    return cls(name=name, **values)


def run_op(sm, op):
    kind = op["op"]
    if kind == "register":
        sm.register_secret(build_secret(op.get("schema", "arbitrary"), op["name"], op.get("values", {})))
        return None
    if kind == "update":
        sm.update_secret(build_secret(op.get("schema", "arbitrary"), op["name"], op.get("values", {})))
        return None
    if kind == "get":
        secret = sm.get_secret(op["name"])
        return {"schema": secret.TYPE, "content": secret.content}
    if kind == "list":
        return sorted(sm.get_all_secret_keys())
    if kind == "delete":
        sm.delete_secret(op["name"])
        return None
    if kind == "delete_all":
        sm.delete_all_secrets()
        return None
    raise ValueError(f"unknown op {kind!r}")


def main():
    batch = json.load(sys.stdin)
    make = MAKERS[batch["backend"]]
    managers = {}
    results = []
    for op in batch["ops"]:
        key = json.dumps(op["manager"], sort_keys=True)
        try:
            sm = managers.get(key)
            if sm is None:
                sm = managers[key] = make(batch["connection"], op["manager"])
            results.append({"ok": True, "result": run_op(sm, op)})
        except Exception as e:  # noqa: BLE001 - every failure is data for the test
            message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            results.append({"ok": False, "error": type(e).__name__, "message": str(message)})
            if os.environ.get("KEYSTACK_DEBUG") == "1":
                traceback.print_exc()
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
