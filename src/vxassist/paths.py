"""Where vxassist keeps its files.

Every file the agent writes lives under one of these folders. Setting
``VXASSIST_HOME`` puts all of them under that one folder, which is what tests,
scripts and portable installs use. The machine policy is the one file the agent
reads but never writes; ``VXASSIST_POLICY`` names it explicitly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "vxassist"
APP_AUTHOR = "Communicado"


#: the machine policy on Linux and the BSDs, where the Debian package installs it
LINUX_POLICY_FILE = Path("/etc/xdg/vxassist/policy.toml")


def machine_policy_file(platform: str = sys.platform) -> Path:
    """Where an administrator's machine policy lives on this system.

    On Linux one fixed path, the one the package installs: the XDG search path
    (``XDG_CONFIG_DIRS``) is the session's to set, and the policy is not.
    """
    if platform.startswith("linux") or "bsd" in platform:
        return LINUX_POLICY_FILE
    return Path(platformdirs.site_config_dir(APP_NAME, APP_AUTHOR)) / "policy.toml"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    cache_dir: Path
    policy_file: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "vxassist.log"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        home = env.get("VXASSIST_HOME")
        policy = env.get("VXASSIST_POLICY")
        if home:
            root = Path(home).expanduser().resolve()
            return cls(
                config_dir=root / "config",
                data_dir=root / "data",
                log_dir=root / "logs",
                cache_dir=root / "cache",
                policy_file=Path(policy) if policy else root / "policy.toml",
            )
        dirs = platformdirs.PlatformDirs(APP_NAME, APP_AUTHOR)
        return cls(
            config_dir=Path(dirs.user_config_dir),
            data_dir=Path(dirs.user_data_dir),
            log_dir=Path(dirs.user_log_dir),
            cache_dir=Path(dirs.user_cache_dir),
            policy_file=Path(policy) if policy else machine_policy_file(),
        )

    def ensure(self) -> Paths:
        """Create the folders the agent writes to (never the policy's)."""
        for folder in (self.config_dir, self.data_dir, self.log_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self
