"""Serve the web app: upload or pick a photo, choose model, method, class and style, see and
download the explanation, compare methods. Binds 127.0.0.1 unless --host says otherwise."""

from gradcam.commands.common import add_model_arguments, load_model, require_extra
from gradcam.errors import UserError

NAME = "serve"
HELP = 'local web app (gradio; pip install "gradcam-slim[app]")'


def add_arguments(parser):
    add_model_arguments(parser)  # --model & co. choose the app's first model (a custom one too)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (0.0.0.0 exposes the app to your network)",
    )
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-file-size", default="10mb", help="upload limit, e.g. 10mb")
    parser.add_argument("--concurrency", type=int, default=4, help="requests served at once")


def run(args):
    require_extra("gradio", "app", "serve")
    from gradcam.app import GradcamApp
    from gradcam.model_cache import PROCESS_MODELS

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    model = load_model(args)
    PROCESS_MODELS.put(model)
    app = GradcamApp(default_network=model.name)
    print(f"gradcam: serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    try:
        app.launch(args.host, args.port, args.max_file_size, args.concurrency)
    except OSError as exc:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    finally:
        app.close()
    return 0
