# matrix-kit: the owner's account, made by `pulumi up` inside Synapse's container once Synapse is
# healthy (run as `python -` after kit_matrix.py and a CONFIG line; the whole program is the
# command's stdin, a secret: the password is never on a command line). Registered as an admin with
# Synapse's shared secret; a name already taken is left as it is, whatever its password now is.
m = Matrix(CONFIG["homeserver"])
wait_ready(m, 120, lambda msg, **f: print(f"matrix-kit: {msg}", flush=True))
made = register(m, CONFIG["sharedSecret"], CONFIG["localpart"], CONFIG["password"], True)
if made is None:
    print(f"matrix-kit: {CONFIG['userId']} exists: left as it is")
else:
    print(f"matrix-kit: {made['user_id']} made, an admin, with its first password (pulumi stack output --show-secrets ownerPassword)")
