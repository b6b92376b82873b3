"""VAE Playground: `python app.py [--host 127.0.0.1] [--port 7860] [--share] [--presets OWNER/NAME]` (also the Hugging Face Space entry)."""
from __future__ import annotations

import argparse
import os


def parse_args(argv=None) -> argparse.Namespace:
    from vae.store import default_checkpoints

    p = argparse.ArgumentParser(description="Draw digits, walk the latent space and compare beta regimes of a VAE.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)), help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--checkpoints", default=str(default_checkpoints()),
                   help="folder of the trained presets, missing ones are trained (default checkpoints/, or /data/checkpoints on a Space with persistent storage)")
    p.add_argument("--presets", default=os.environ.get("VAE_PRESETS") or None, metavar="OWNER/NAME[@REVISION]",
                   help="a Hugging Face Hub repo of trained presets (one subfolder each, as `python -m vae publish --presets-root` "
                        "writes) to bring the missing ones from before training them; default $VAE_PRESETS")
    return p.parse_args(argv)


def main(argv=None) -> None:
    # Imported here, not at the top: the training workers (vae/workers.py) start fresh interpreters that import this
    # file again, and they need neither Gradio nor the UI.
    import torch

    from playground.models import ModelHub
    from playground.ui import build_demo, launch

    # One thread for the views: the presets train in worker processes on the cores meanwhile, and a 2-thread
    # PyTorch process stalls whenever another process runs (vae/workers.py).
    torch.set_num_threads(1)
    args = parse_args(argv)
    hub = ModelHub(args.checkpoints, from_hub=args.presets)
    demo = build_demo(hub)
    launch(demo, args.host, args.port, share=args.share)
    try:
        hub.run()  # load the cached presets and train the rest in worker processes, serving them as they come
    except KeyboardInterrupt:  # every finished epoch is already saved; the next start resumes from it
        demo.close()
        return
    demo.block_thread()


if __name__ == "__main__":
    main()
