"""edge install-pipewire: the "Denoised microphone" PipeWire source for this machine's user."""
from __future__ import annotations

import json


def add_parser(sub):
    from edge.native import rates_text

    p = sub.add_parser(
        "install-pipewire", help="add a \"Denoised microphone\" source to this user's PipeWire",
        description="Copies the LADSPA plugin (libpercepnet_ladspa.so, built by scons) and its "
                    "model to --prefix, checks that the copy loads its model and runs at --rate "
                    "as PipeWire will load it, and writes a filter-chain drop-in to --dest: the "
                    "default capture device goes through the plugin into a virtual source "
                    "\"Denoised microphone\" (node percepnet_source). Restart PipeWire "
                    "(systemctl --user restart pipewire.service) and record from that source. "
                    "With --echo-cancel, for a speakerphone, the microphone first goes through "
                    "PipeWire's WebRTC echo canceller (libpipewire-module-echo-cancel), whose "
                    "reference is what applications play to the sink \"Echo-cancelled speaker\" "
                    "(node percepnet_echo_sink, which plays on to the default output). "
                    "On a board, `edge flash --pipewire` does the same.")
    p.add_argument("--plugin", metavar="SO",
                   help="the plugin to install (default: the release's ladspa/ or the source "
                        "tree's build/host/libpercepnet_ladspa.so)")
    p.add_argument("--model", metavar="PNW",
                   help="model for it (default: percepnet.pnw beside the plugin, else the "
                        "shipped model)")
    p.add_argument("--prefix", metavar="DIR",
                   help="where the plugin and model copies go, the ones PipeWire loads "
                        "(default ~/.local/lib/percepnet-edge)")
    p.add_argument("--dest", metavar="DIR",
                   help="the drop-in directory (default $XDG_CONFIG_HOME/pipewire/pipewire.conf.d, "
                        "i.e. ~/.config/pipewire/pipewire.conf.d)")
    p.add_argument("--rate", type=int, default=48000, metavar="HZ",
                   help=f"rate the filter runs at: {rates_text()} (default 48000; PipeWire "
                        "converts from its graph's rate)")
    p.add_argument("--atten-lim", type=float, default=0.0, metavar="DB",
                   help="remove at most DB dB of each band, keeping some ambience (0 to 100; 0: no "
                        "limit)")
    p.add_argument("--capture", metavar="NODE",
                   help="take the microphone from this PipeWire node (its node.name, see "
                        "`pw-cli ls Node`) instead of the default capture device; needed if "
                        "you make \"Denoised microphone\" the default input")
    p.add_argument("--echo-cancel", action="store_true",
                   help="put PipeWire's WebRTC echo canceller (10 ms blocks, its own noise "
                        "suppression and gain control off) ahead of the filter: applications "
                        "play to \"Echo-cancelled speaker\" and record from \"Denoised "
                        "microphone\" (--rate 8000, 16000, 32000 or 48000)")
    p.add_argument("--remove", action="store_true",
                   help="delete the drop-in and the plugin copies instead")
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    return p


def run(args) -> int:
    from edge.pipewire import install

    if args.remove:
        gone = install.remove(args.prefix, args.dest)
        if args.json:
            print(json.dumps({"removed": gone}))
        else:
            print(("removed " + ", ".join(gone) if gone else "nothing to remove")
                  + f"; restart PipeWire to drop the source: {install.RESTART}")
        return 0
    r = install.install(args.plugin, args.model, args.prefix, args.dest, args.rate,
                        args.atten_lim, args.capture, args.echo_cancel)
    if args.json:
        print(json.dumps(r.as_dict()))
        return 0
    limit = f"at most {r.atten_lim:g} dB removed" if r.atten_lim else "no attenuation limit"
    echo = (f" after the echo canceller, whose reference is what is played to "
            f"\"{r.echo_sink_description}\" (node {r.echo_sink})" if r.echo_cancel else "")
    print(f"wrote {r.conf}: \"{r.description}\" (node {r.node}) from "
          f"{args.capture or 'the default capture device'}{echo} through {r.plugin}, {r.rate} Hz, "
          f"{limit}, plugin delay {r.latency_samples} samples "
          f"({1000 * r.latency_samples / r.rate:.1f} ms)\n"
          f"restart PipeWire to load it: {install.RESTART}")
    return 0
