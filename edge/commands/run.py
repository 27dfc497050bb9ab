"""edge run: live enhancement from an ALSA capture device to a playback device."""
from __future__ import annotations

import json
import os
import sys


def add_parser(sub):
    from edge.native import rates_text

    p = sub.add_parser(
        "run", help="enhance live audio: ALSA capture -> kernel -> ALSA playback",
        description="Runs until --duration or SIGTERM/Ctrl-C. Devices and channels default to "
                    "the board descriptor's [audio] section. Prints the final figures as JSON.")
    p.add_argument("--board", metavar="NAME", default="host", help="board descriptor (default: host)")
    p.add_argument("--capture", metavar="DEV", help="ALSA capture PCM (e.g. plughw:CARD=Device)")
    p.add_argument("--playback", metavar="DEV", help="ALSA playback PCM")
    p.add_argument("--channels", type=int, metavar="N",
                   help="channels to open on both devices (default: the board's [audio] channels, "
                        "1 for host)")
    p.add_argument("--rate", type=int, default=48000, metavar="HZ",
                   help=f"sample rate to open both devices at: {rates_text()} (default 48000; the "
                        "kernel converts the others to 48 kHz and back, adding 32 samples of delay)")
    p.add_argument("--capture-channel", type=int, metavar="I",
                   help="captured channel to enhance, 0 the first (default: the board's [audio] "
                        "capture_channel, 0 for host)")
    p.add_argument("--playback-channel", type=int, metavar="I",
                   help="play the result on this channel only (default: every channel)")
    p.add_argument("--reference", metavar="DEV",
                   help="ALSA capture PCM of what the loudspeaker plays (a loopback's capture side "
                        "or the playback device's monitor), mono at --rate: its echo is cancelled "
                        "from each captured hop before the kernel (speexdsp's canceller; a hop "
                        "without reference goes uncancelled, and is counted)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="seconds of audio, then stop (default: run until SIGTERM or Ctrl-C)")
    p.add_argument("--telemetry", metavar="FILE",
                   help="append JSON lines of telemetry here, rotated: FILE.1 .. FILE.N")
    p.add_argument("--telemetry-max-mb", type=float, default=8.0, metavar="MB",
                   help="start a new telemetry file past this size (default 8)")
    p.add_argument("--telemetry-keep", type=int, default=3, metavar="N",
                   help="rotated telemetry files to keep (default 3; 0: none)")
    p.add_argument("--prometheus", metavar="FILE",
                   help="keep a Prometheus textfile here (node_exporter textfile collector)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="telemetry period in seconds (default 1)")
    p.add_argument("--live", action="store_true", help="show telemetry live on the terminal")
    p.add_argument("--model", metavar="PATH", help="model weights (default: the shipped model)")
    p.add_argument("--atten-lim", type=float, metavar="DB",
                   help="remove at most DB dB of each band, keeping some ambience "
                        "(0 to 100; 0 or absent: no limit)")
    p.add_argument("--cpu", type=int, metavar="N",
                   help="pin the audio thread to this core (default: the last core)")
    p.add_argument("--kernel-wait", type=float, metavar="MS",
                   help="run the kernel on a guard thread and let a hop wait at most MS for it "
                        "before playing the delayed input (20 is the playback headroom with 3 "
                        "periods). Default: the kernel runs on the audio thread, which costs "
                        "less CPU; a hung kernel call then stops the systemd watchdog pings and "
                        "the service is restarted")
    p.add_argument("--no-realtime", action="store_true",
                   help="skip SCHED_FIFO, mlockall and affinity (e.g. on a shared machine)")
    return p


def _warn(msg: str) -> None:
    print(f"edge run: {msg}", file=sys.stderr)


def _live_canceller(device, config, hop, io):
    """The reference device and the canceller on it; closes io when the device is refused."""
    from edge.aec import Canceller
    from edge.audio.alsa import AlsaReference
    from edge.supervisor.echo import LiveCanceller

    try:
        canceller = Canceller(config.rate, hop)
        try:
            ref = AlsaReference(device, config.rate, config.periods)
        except BaseException:
            canceller.close()
            raise
    except BaseException:
        io.close(drain=False)
        raise
    return LiveCanceller(canceller, ref, io.layout)


def run(args) -> int:
    from edge.audio.alsa import AlsaDuplex, AudioConfig
    from edge.boards import load_board
    from edge.errors import EdgeError
    from edge.kernel import Kernel, check_atten_lim
    from edge.models import shipped
    from edge.supervisor.realtime import default_audio_cpu
    from edge.supervisor.service import Outputs, run_service
    from edge.telemetry.sources import for_board

    check_atten_lim(args.atten_lim)
    if args.cpu is not None:
        cpus = os.cpu_count() or 1
        if not 0 <= args.cpu < cpus:
            raise EdgeError(f"--cpu {args.cpu}: this machine has CPUs 0-{cpus - 1}")
    board = load_board(args.board)
    if args.duration is not None and args.duration <= 0:
        raise EdgeError(f"--duration must be positive, got {args.duration}")
    if args.interval <= 0:
        raise EdgeError(f"--interval must be positive, got {args.interval}")
    if args.telemetry_max_mb <= 0:
        raise EdgeError(f"--telemetry-max-mb must be positive, got {args.telemetry_max_mb}")
    if args.telemetry_keep < 0:
        raise EdgeError(f"--telemetry-keep must be 0 or more, got {args.telemetry_keep}")
    if args.kernel_wait is not None and args.kernel_wait <= 0:
        raise EdgeError(f"--kernel-wait must be positive, got {args.kernel_wait}")
    a = board.audio

    def pick(given, default):
        return default if given is None else given
    config = AudioConfig(capture=pick(args.capture, a.capture),
                         playback=pick(args.playback, a.playback),
                         channels=pick(args.channels, a.channels),
                         capture_channel=pick(args.capture_channel, a.capture_channel),
                         playback_channel=args.playback_channel, periods=a.periods, rate=args.rate)
    config.validate()
    if args.reference is not None:
        from edge.aec import lib
        lib()                       # refused before any device opens when not built in
    model = args.model
    if model is None:
        model = shipped()
        if model is None:
            _warn("warning: no shipped model found; running the DSP with unity gains "
                  "(delayed passthrough)")
    kernel = Kernel(model, atten_lim=args.atten_lim, rate=args.rate)
    echo = None
    try:
        io = AlsaDuplex(config)
        if args.reference is not None:
            echo = _live_canceller(args.reference, config, kernel.hop, io)
    except BaseException:
        kernel.close()
        raise
    wait = {} if args.kernel_wait is None else {"hang_ns": round(args.kernel_wait * 1e6)}
    try:
        frames = None if args.duration is None else round(args.duration * 100)
        # The kernel is freed by the loop once no call is running in it: a call stuck in the
        # C library keeps it (the process exits anyway) rather than freeing it under the call.
        result = run_service(kernel, io, frames=frames, sources=for_board(board),
                             outputs=Outputs(jsonl=args.telemetry, prometheus=args.prometheus,
                                             live=args.live, interval=args.interval,
                                             jsonl_max_bytes=round(args.telemetry_max_mb * 2**20),
                                             jsonl_keep=args.telemetry_keep),
                             rt=not args.no_realtime, warn=_warn, release=kernel.close,
                             cpu=default_audio_cpu() if args.cpu is None else args.cpu, echo=echo,
                             **wait)
    finally:
        if echo is not None:
            echo.close()
        io.close(drain=True)
    print(json.dumps(result, indent=2))
    return 0
