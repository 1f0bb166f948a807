"""The desk's session broker: engineers ask, hosts decide, the CA signs, the relay obeys.

``state`` holds the pure rules (transitions with the clock passed in), ``tables``
the database tables, ``store`` the queries, ``broker`` the wake-ups that reach
every worker, ``routes`` the HTTP API, and ``relay`` what the relay may open.
"""
