#!/usr/bin/env python3
"""A lutgen device client written from docs/protocol.md (version 2) alone.

It needs Python 3 and pyserial (`import serial`; Debian: python3-serial) and
nothing of lutgen: every byte it sends or expects comes from the page. Run it
against a board on /dev/ttyUSB0 or against `lutgen board --sim` (whose first
output line is the pseudo-terminal to open):

    python3 lutgen_client.py PORT --image model.lutimg --inputs x.txt --expect y.txt
    python3 lutgen_client.py PORT --image digits.lutnet --inputs x.txt --expect y.txt \
        --wrong-image other.lutnet          # a network device (protocol.md, "Network devices")
    python3 lutgen_client.py PORT --image padded.lutnet ...   # a sequential device: the network
        # file with every layer's image padded to the device's engine (protocol.md, "Sequential
        # network devices"); this client does not pad, it loads the file it is given

It identifies the device, checks that the device refuses what it must
(a wrong image: error 9; data before an image is loaded: error 7; a load
frame that leaves a gap: error 8), loads the image in chunks, checks the
status reports it loaded with the file's payload CRC (a network file's own
CRC, its last 4 bytes, on a network device), runs every input vector and
compares every output (the last layer's, on a network device). It exits 0 when all of that holds and 1,
printing what differed, when anything does.

Input and expected-output files are text: one vector per line, integers
separated by spaces (D activations per input line, N outputs per expected
line). The client does not recover from a damaged link (no retries): it
is meant for a clean serial line or the simulated board.
"""

import argparse
import struct
import sys
import zlib

try:
    import serial  # pyserial
except ImportError:
    print("lutgen_client.py needs pyserial: apt-get install python3-serial, or pip install pyserial",
          file=sys.stderr)
    sys.exit(2)

# --- Frames (protocol.md, "Frames") ------------------------------------------

SYNC = b"\xa5\x5a"
MAX_PAYLOAD = 512  # largest command payload; the identify reply reports it too

IDENTIFY, STATUS, RESET, LOAD, DATA, TRACE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
ERROR_REPLY = 0xFF  # a successful reply is `command | 0x80`

ERRORS = {
    1: "bad CRC",
    2: "unknown command",
    3: "bad length",
    4: "too long",
    5: "overflow",
    6: "timeout",
    7: "not loaded",
    8: "load offset",
    9: "wrong image",
    10: "image CRC",
    11: "value range",
    12: "no such layer",
}
NOT_LOADED, LOAD_OFFSET, WRONG_IMAGE = 7, 8, 9


def frame(code, seq, payload=b""):
    """sync, code, sequence, length (u16), payload, CRC-32 of code..payload (u32)."""
    body = struct.pack("<BBH", code, seq, len(payload)) + payload
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


class DeviceError(Exception):
    """The device answered with an error reply (code 0xFF)."""

    def __init__(self, code, command):
        self.code, self.command = code, command
        name = ERRORS.get(code, "unknown error")
        super().__init__(f"error {code} ({name}) to command 0x{command:02x}")


class LinkError(Exception):
    """No reply, a short reply, or a reply that breaks the protocol."""


class CheckFailed(Exception):
    """The device did something this client's checks do not allow."""


# --- The device --------------------------------------------------------------


class Device:
    def __init__(self, port, baud, timeout):
        self.port = serial.Serial(port, baud, timeout=timeout)
        self.port.reset_input_buffer()
        self.timeout = timeout
        self.seq = 0

    def _read(self, n):
        data = self.port.read(n)
        if len(data) != n:
            raise LinkError(f"no reply within {self.timeout} s (got {len(data)} of {n} bytes)")
        return data

    def _receive(self):
        """Hunt for A5 5A, then read the header, the payload and the CRC."""
        previous = b""
        while True:
            byte = self._read(1)
            if previous + byte == SYNC:
                break
            previous = byte
        code, seq, length = struct.unpack("<BBH", self._read(4))
        payload = self._read(length)
        (crc,) = struct.unpack("<I", self._read(4))
        if crc != zlib.crc32(struct.pack("<BBH", code, seq, length) + payload):
            raise LinkError("reply with a bad CRC (this client does not retry)")
        return code, seq, payload

    def command(self, code, payload=b""):
        """Send one frame, wait for its reply, return the reply's payload.

        Raises DeviceError for an error reply. One frame is in flight at a
        time, so the reply must carry the sequence number just sent."""
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFF
        self.port.write(frame(code, seq, payload))
        reply_code, reply_seq, reply = self._receive()
        if reply_seq != seq:
            raise LinkError(f"reply to sequence {reply_seq}, expected {seq}")
        if reply_code == ERROR_REPLY:
            if len(reply) != 2:
                raise LinkError(f"error reply of {len(reply)} bytes, expected 2")
            raise DeviceError(reply[0], reply[1])
        if reply_code != code | 0x80:
            raise LinkError(f"reply code 0x{reply_code:02x} to command 0x{code:02x}")
        return reply

    # identify reply: 52 bytes (protocol.md, "identify reply"); a network
    # device adds the layer count and 25 bytes per layer after the first.
    IDENT = struct.Struct("<4sBB4B5I I II HHH I")
    LAYER = struct.Struct("<B4B5I")
    # A layer of a device with convolutions (protocol.md, "Convolutional
    # network devices"): kind, pool, in_height, in_width, in_channels,
    # kernel, stride, the four pads.
    SPATIAL = struct.Struct("<BBHHH6B")

    def identify(self):
        reply = self.command(IDENTIFY)
        base = self.IDENT.size
        network = len(reply) > base
        count = reply[base] if network else 1
        layers_end = base + 1 + self.LAYER.size * (count - 1) if network else base
        # A sequential device adds the schedule byte (1) and its engine's 25
        # bytes (protocol.md, "Sequential network devices").
        sequential = network and len(reply) == layers_end + 26 and reply[layers_end] == 1
        # A device with convolutions adds the tag 2 and 14 bytes per layer.
        spatial_len = 1 + self.SPATIAL.size * count
        spatial = network and len(reply) == layers_end + spatial_len and reply[layers_end] == 2
        extra = 26 if sequential else spatial_len if spatial else 0
        if len(reply) != layers_end + extra or count < 1:
            raise LinkError(f"identify reply of {len(reply)} bytes: not {base} (an engine device) "
                            f"nor {base} + 1 + 25 per layer after the first (a network device), "
                            f"nor that + 26 (a sequential device) or + 1 + 14 per layer "
                            f"(a device with convolutions)")
        (magic, version, encoder, abits, cbits, tbits, bbits, d, c, k, n, lanes,
         config_hash, clock_hz, baud, rx_buffer, max_payload, queue, image_len) = self.IDENT.unpack(reply[:base])
        if magic != b"LTGN":
            raise LinkError(f"identify magic {magic!r}, expected b'LTGN': not a lutgen device")
        if version != 2:
            raise LinkError(f"protocol version {version}; this client speaks version 2")
        # The hash covers the 25 bytes at offsets 5..29: encoder id, the four
        # widths, then D C K N L; a network device's covers the layer count
        # and every layer's 25 bytes.
        configs = [reply[5:30]] + [reply[base + 1 + 25 * i:base + 26 + 25 * i] for i in range(count - 1)]
        hashed = bytes([count]) + b"".join(configs) if network else reply[5:30]
        if sequential or spatial:
            hashed += reply[layers_end:]
        if zlib.crc32(hashed) != config_hash:
            raise LinkError("identify reply: the configuration hash does not match its fields")
        layers = [self.LAYER.unpack(cfg) for cfg in configs]
        shapes = [self.SPATIAL.unpack_from(reply, layers_end + 1 + self.SPATIAL.size * i)
                  for i in range(count)] if spatial else None
        if shapes and shapes[0][0] == 1:
            # A convolution first: a vector is its whole input map (HWC).
            d = shapes[0][2] * shapes[0][3] * shapes[0][4]
        return dict(encoder=encoder, widths=(abits, cbits, tbits, bbits),
                    input_dim=d, codebooks=c, centroids=k, outputs=layers[-1][8], lanes=lanes,
                    config_hash=config_hash, clock_hz=clock_hz, baud=baud,
                    rx_buffer=rx_buffer, max_payload=max_payload, queue=queue,
                    image_len=image_len, network=network, layers=count, sequential=sequential,
                    engine=self.LAYER.unpack(reply[layers_end + 1:]) if sequential else None,
                    spatial=shapes)

    def status(self):
        reply = self.command(STATUS)
        if len(reply) != 24:
            raise LinkError(f"status reply of {len(reply)} bytes, expected 24")
        received, rejected, vectors, flags, image_crc, load_offset = struct.unpack("<6I", reply)
        return dict(frames_received=received, frames_rejected=rejected,
                    vectors_processed=vectors, fault=bool(flags & 1),
                    loaded=bool(flags & 2), loading=bool(flags & 4),
                    image_crc=image_crc, load_offset=load_offset)

    def reset(self):
        self.command(RESET)

    def load_frame(self, offset, data):
        """One load frame: `offset: u32`, then the file's bytes from there."""
        self.command(LOAD, struct.pack("<I", offset) + data)

    def run(self, vectors, d, n):
        """Send the vectors, as many per data frame as fit, and return N
        outputs (i32) per vector."""
        per_frame = min(MAX_PAYLOAD // d, 0xFFFF // (4 * n))  # payload, reply length
        if per_frame < 1:
            raise LinkError(f"a vector of D={d} does not fit a {MAX_PAYLOAD}-byte frame")
        outputs = []
        for start in range(0, len(vectors), per_frame):
            batch = vectors[start:start + per_frame]
            payload = b"".join(struct.pack(f"<{d}b", *x) for x in batch)
            reply = self.command(DATA, payload)
            if len(reply) != 4 * n * len(batch):
                raise LinkError(f"data reply of {len(reply)} bytes, expected {4 * n * len(batch)}")
            values = struct.unpack(f"<{n * len(batch)}i", reply)
            outputs += [list(values[i * n:(i + 1) * n]) for i in range(len(batch))]
        return outputs


# --- The checks ----------------------------------------------------------------


def chunks(image, size):
    """(offset, bytes) pairs that cover the file in order."""
    return [(at, image[at:at + size]) for at in range(0, len(image), size)]


def expect_refusal(what, code, action):
    """Run `action`; it must end in error reply `code`, never in a success."""
    try:
        action()
    except DeviceError as e:
        if e.code != code:
            raise CheckFailed(f"{what}: got {e}, expected error {code} ({ERRORS[code]})")
        print(f"refused as it must be: {what} -> error {code} ({ERRORS[code]})")
        return
    raise CheckFailed(f"{what}: the device accepted it, expected error {code} ({ERRORS[code]})")


def another_configuration(image):
    """The same file with another encoder id in its header (byte 36) and the
    header CRC (bytes 60..64, over bytes 0..60) made right again: an image
    header for an engine this device is not."""
    header = bytearray(image[:60])
    header[36] = (header[36] + 1) % 5
    return bytes(header) + struct.pack("<I", zlib.crc32(header)) + image[64:]


def load_image(dev, image, chunk):
    """Load the file in frames of `chunk` bytes, checking on the way that a
    frame which skips ahead (a gap) is refused and changes nothing."""
    # The gap check needs a second frame: split a file that fits one in two.
    parts = chunks(image, min(chunk, (len(image) + 1) // 2))
    first_offset, first = parts[0]
    dev.load_frame(first_offset, first)
    expected_next = len(first)
    gap_at = expected_next + 1
    expect_refusal(f"load frame at offset {gap_at} while the device expects {expected_next}",
                   LOAD_OFFSET, lambda: dev.load_frame(gap_at, image[gap_at:gap_at + chunk]))
    s = dev.status()
    if not s["loading"] or s["loaded"] or s["load_offset"] != expected_next:
        raise CheckFailed(f"after the refused gap the status should show a load in progress at "
                          f"offset {expected_next}, not loaded; it shows {s}")
    for offset, data in parts[1:]:
        dev.load_frame(offset, data)
    print(f"loaded {len(image)} bytes in {len(parts)} frames")


def read_vectors(path, width, what):
    vectors = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.split():
                continue
            values = [int(v) for v in line.split()]
            if len(values) != width:
                raise ValueError(f"{path} line {number}: {len(values)} values, "
                                 f"the device's {what} is {width}")
            vectors.append(values)
    return vectors


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", help="serial port, or the pseudo-terminal `lutgen board --sim` printed")
    p.add_argument("--image", required=True, help="table image file (.lutimg) for this device")
    p.add_argument("--inputs", required=True, help="text file: one input vector (D integers) per line")
    p.add_argument("--expect", required=True, help="text file: the N expected outputs per line")
    p.add_argument("--wrong-image", help="an image for another engine, which the device must refuse "
                                         "(default: this image with another encoder id in its header)")
    p.add_argument("--baud", type=int, default=115200, help="must match the device (default 115200)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply (default 5)")
    p.add_argument("--chunk", type=int, default=MAX_PAYLOAD - 4,
                   help="image bytes per load frame, 1 to 508 (default 508)")
    args = p.parse_args()
    if not 1 <= args.chunk <= MAX_PAYLOAD - 4:
        p.error("--chunk must be 1 to 508")

    try:
        image = open(args.image, "rb").read()
        wrong = open(args.wrong_image, "rb").read() if args.wrong_image else another_configuration(image)
        dev = Device(args.port, args.baud, args.timeout)

        ident = dev.identify()
        d, n = ident["input_dim"], ident["outputs"]
        if ident["network"]:
            print("identify: network device, {layers} layers, D={input_dim} in, N={outputs} out, "
                  "hash 0x{config_hash:08x}, {clock_hz} Hz, {baud} baud, network files up to "
                  "{image_len} bytes".format(**ident))
        else:
            print("identify: encoder {encoder}, D={input_dim} C={codebooks} K={centroids} N={outputs} "
                  "L={lanes}, widths {widths}, hash 0x{config_hash:08x}, {clock_hz} Hz, {baud} baud, "
                  "image {image_len} bytes".format(**ident))
        inputs = read_vectors(args.inputs, d, "input dimension D")
        expected = read_vectors(args.expect, n, "output count N")
        if len(inputs) != len(expected):
            raise ValueError(f"{len(inputs)} input vectors but {len(expected)} expected outputs")
        if ident["network"] and len(image) > ident["image_len"]:
            raise ValueError(f"{args.image} is {len(image)} bytes, this device loads network files "
                             f"of at most {ident['image_len']}: the file is for other layers")
        if not ident["network"] and len(image) != ident["image_len"]:
            raise ValueError(f"{args.image} is {len(image)} bytes, this device loads "
                             f"{ident['image_len']}-byte images: the image is for another engine")
        for i, shape in enumerate(ident["spatial"] or []):
            if shape[0] == 1:
                print(f"identify: layer {i} is a {shape[5]}x{shape[5]} convolution, stride {shape[6]}, "
                      f"over a {shape[2]}x{shape[3]}x{shape[4]} map, pool code {shape[1]}")
        if ident["sequential"]:
            e = ident["engine"]
            print(f"identify: sequential device, one engine of D={e[5]} C={e[6]} K={e[7]} N={e[8]} "
                  f"runs the {ident['layers']} layers in turn: it loads the network file with every "
                  f"layer's image padded to that engine (give --image the padded file)")
        if ident["network"] and not args.wrong_image:
            raise ValueError("a network device: give --wrong-image (a network file for other layers)")

        # Start clean: reset clears the counters and abandons a half-done load.
        dev.reset()

        # Refusals. The wrong image comes first: starting a load at offset 0
        # unloads whatever image the device held, so the data frame after
        # it must be refused too, even when this client runs a second time.
        def load_wrong():
            for offset, data in chunks(wrong, args.chunk):
                dev.load_frame(offset, data)
        expect_refusal("an image for another configuration", WRONG_IMAGE, load_wrong)
        s = dev.status()
        if s["loaded"] or s["loading"]:
            raise CheckFailed(f"after the wrong image the device should hold no image and no load; "
                              f"status {s}")
        expect_refusal("a data frame before an image is loaded", NOT_LOADED,
                       lambda: dev.run(inputs[:1], d, n))

        load_image(dev, image, args.chunk)
        s = dev.status()
        # An image's payload CRC is at bytes 56..60; a network file's own CRC is its last 4 bytes.
        (file_crc,) = struct.unpack_from("<I", image, len(image) - 4 if ident["network"] else 56)
        if not s["loaded"] or s["loading"] or s["image_crc"] != file_crc or s["load_offset"] != len(image):
            raise CheckFailed(f"after the load the status should show loaded, CRC 0x{file_crc:08x}, "
                              f"load_offset {len(image)}; it shows {s}")
        print(f"status: loaded, image_crc 0x{s['image_crc']:08x} = the file's CRC")

        outputs = dev.run(inputs, d, n)
        mismatches = [(i, want, got) for i, (want, got) in enumerate(zip(expected, outputs)) if want != got]
        for i, want, got in mismatches[:10]:
            print(f"vector {i}: expected {want}, device {got}")
        if mismatches:
            raise CheckFailed(f"{len(mismatches)} of {len(inputs)} vectors differ")
        print(f"ran {len(inputs)} vectors: every output as expected")

        s = dev.status()
        if s["vectors_processed"] != len(inputs) or s["frames_rejected"] != 3 or s["fault"]:
            raise CheckFailed(f"final status should show {len(inputs)} vectors, 3 rejected frames "
                              f"(the three refusals) and no fault; it shows {s}")
        print(f"status: {s['frames_received']} frames received, {s['frames_rejected']} rejected, "
              f"{s['vectors_processed']} vectors")
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (DeviceError, LinkError) as e:
        print(f"FAIL: unexpected reply: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, serial.SerialException) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
