"""The desk's session broker: engineers ask, hosts decide, the CA signs, the relay obeys.

``state`` holds the pure rules (transitions with the clock passed in), ``tables``
the database tables, ``store`` the queries, ``broker`` the wake-ups that reach
every worker, ``routes`` the HTTP API, ``config`` the ``[relay]``/``[sessions]``
settings and ``cli`` the desk commands. The certificate authorities are in
``vxassist.desk.ca``; what the relay lets a key do is ``vxassist.desk.relay_keys``.
"""
