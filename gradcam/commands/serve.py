"""Serve the web app: upload or pick a photo, choose model, method, class and style, see and
download the explanation, compare methods. Binds 127.0.0.1 unless --host says otherwise."""
NAME = "serve"
HELP = "local web app (gradio)"


def add_arguments(parser):
    from gradcam.commands.common import add_model_arguments

    add_model_arguments(parser)  # --model & co. choose the app's first model (a custom one too)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 exposes the app to your network)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-file-size", default="10mb", help="upload limit, e.g. 10mb")
    parser.add_argument("--concurrency", type=int, default=4, help="requests served at once")


def run(args):
    from gradcam.app import GradcamApp
    from gradcam.errors import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    from gradcam.commands.common import load_model
    from gradcam.model_cache import PROCESS_MODELS

    model = load_model(args)
    PROCESS_MODELS.put(model)
    app = GradcamApp(default_network=model.spec.name)
    print(f"gradcam: serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    try:
        app.launch(args.host, args.port, args.max_file_size, args.concurrency)
    except OSError as exc:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    finally:
        app.close()
    return 0
