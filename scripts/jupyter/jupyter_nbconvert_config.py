"""Jupyter settings for the site build: the Makefile adds this folder to JUPYTER_CONFIG_PATH.

mkdocs-jupyter executes the notebooks through nbconvert. Over TCP, ipykernel warns that the
kernel runs "over TCP without encryption" (harmless for a local build, printed once per
notebook); over IPC (Unix sockets) there is nothing to warn about. The socket path must be
absolute, because the kernel runs in the notebook's folder and the build elsewhere; the
process id keeps two builds apart, and jupyter_client removes the sockets at shutdown.
"""

import os
import tempfile

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(tempfile.gettempdir(), f"alignment-math-kernel-{os.getpid()}")
