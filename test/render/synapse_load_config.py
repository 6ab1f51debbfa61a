"""Load a homeserver.yaml with real Synapse's own config loader and print what it understood.

Run with the venv made by test/setup/validators.sh, inside the mount namespace that
validators.test.ts sets up, so /config/... and /data/... resolve as in the container:

    python synapse_load_config.py /config/homeserver.yaml

Everything Synapse checks at start-up without a database is exercised: every config
section's parser (HomeServerConfig.load_config, as `synapse.app.homeserver` does), the
signing key, the app service registrations (load_appservices, as the data store does
on start) and the log config (dictConfig, as setup_logging does). Prints one JSON object
on stdout; any rejection is an exception and a non-zero exit.
"""

import json
import sys
from importlib.metadata import version

from synapse.config.appservice import load_appservices
from synapse.config.homeserver import HomeServerConfig
from synapse.config.logger import _load_logging_config


def federation_summary(config: HomeServerConfig) -> dict:
    """Who Synapse federates with and which remote rooms it joins, as its loader understood it."""
    whitelist = config.federation.federation_domain_whitelist
    limit = config.server.limit_remote_rooms
    return {
        "listener_resources": sorted(
            name
            for listener in config.server.listeners
            for resource in listener.http_options.resources
            for name in resource.names
        ),
        # None: every server; a list (maybe empty): only those.
        "domain_whitelist": None if whitelist is None else sorted(whitelist),
        "send_federation": config.worker.send_federation,
        "trusted_key_servers": [k.server_name for k in config.key.key_servers],
        "limit_remote_rooms": {
            "enabled": limit.enabled,
            "complexity": limit.complexity,
            "complexity_error": limit.complexity_error,
            "admins_can_join": limit.admins_can_join,
        },
    }


def main(path: str) -> None:
    config = HomeServerConfig.load_config("synapse", ["-c", path])
    services = load_appservices(config.server.server_name, config.appservice.app_service_config_files)
    _load_logging_config(config.logging.log_config)
    summary = {
        "synapse_version": version("matrix-synapse"),
        "server_name": config.server.server_name,
        "public_baseurl": config.server.public_baseurl,
        "max_upload_size": config.media.max_upload_size,
        "media_store_path": config.media.media_store_path,
        "local_media_lifetime_ms": config.media.media_retention_local_media_lifetime_ms,
        "remote_media_lifetime_ms": config.media.media_retention_remote_media_lifetime_ms,
        "signing_key_ids": [f"{k.alg}:{k.version}" for k in config.key.signing_key],
        "app_services": [
            {"id": s.id, "sender_localpart": s.sender.localpart, "url": s.url} for s in services
        ],
        "federation": federation_summary(config),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
