"""Remote sessions on the agent: an engineer gets in only through a live, approved grant.

- ``grants``    pure decisions: screening requests, grants, login/channel/path/forward checks
- ``consent``   prompters that ask the customer (terminal, deny; the tray adds a window)
- ``service``   runs grants: tunnel, embedded server, deadline and End now, summaries
- ``tunnel``    the outbound SSH connection to the relay carrying the reverse forward
- ``server``    the embedded certificate-only SSH server: PTY/exec, confined SFTP, forwards
- ``terminal``  PTYs (Unix pty, Windows ConPTY) and pipes behind one interface
- ``fileio``    SFTP writes off the event loop without serializing an upload
- ``recording`` asciicast v2 recordings of shell and exec channels
- ``audit``     the hash-chained, append-only audit log
- ``hostkey``   the agent's SSH host key and its enrollment certificate
- ``broker``    the loop between the desk and all of the above

asyncssh enters the code base through this package only.
"""
