//! How a device is built ([`DeviceConfig`]) and the rules it must meet
//! ([`DeviceConfigError`]).

use lutgen_core::ident::Ident;
use lutgen_core::protocol::{self, Command, DeviceError};
use lutgen_core::spatial::Spatial;
use lutgen_core::{EngineConfig, Network};

// The receiver, executor and transmitter write these codes as literals (rust-hdl's generator
// takes literals, not paths); the compiler checks they agree with the protocol.
const _: () = {
    assert!(Command::Identify as u8 == 1);
    assert!(Command::Status as u8 == 2);
    assert!(Command::Reset as u8 == 3);
    assert!(Command::Load as u8 == 4);
    assert!(Command::Data as u8 == 5);
    assert!(protocol::REPLY == 0x80 && protocol::ERROR_REPLY == 0xFF);
    assert!(protocol::SYNC0 == 0xA5 && protocol::SYNC1 == 0x5A);
    assert!(DeviceError::BadCrc as u8 == 1);
    assert!(DeviceError::UnknownCommand as u8 == 2);
    assert!(DeviceError::BadLength as u8 == 3);
    assert!(DeviceError::TooLong as u8 == 4);
    assert!(DeviceError::Overflow as u8 == 5);
    assert!(DeviceError::Timeout as u8 == 6);
    assert!(DeviceError::NotLoaded as u8 == 7);
    assert!(DeviceError::LoadOffset as u8 == 8);
    assert!(protocol::BUFFER_BYTES == 2048 && protocol::JOB_QUEUE_DEPTH == 256);
    assert!(protocol::IDENT_LEN == 52 && protocol::STATUS_LEN == 24);
    assert!(protocol::LOAD_HEADER_LEN == 4);
};

/// The most the baud rate the UART's divider gives may differ from the one asked for, in
/// parts per thousand: 2%, the usual budget for one end of an 8N1 link (the receiver samples
/// each bit in its middle, so over a 10-bit frame both ends together may drift about 5%).
pub const MAX_BAUD_ERROR_PERMILLE: u64 = 20;

/// What a device runs, which decides the file its load command takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// One engine; it loads image files (`LUTI`, `docs/image-format.md`).
    Engine(EngineConfig),
    /// A chain of layers, one engine each with the requantization between
    /// them (the dataflow [`NetworkTop`](crate::network::NetworkTop)), layer
    /// `i` running as the `i`-th [`Spatial`] (dense, or a convolution with
    /// its window generator, maybe pooled; pad values are 0 here, a device
    /// loads them: [`Spatial::device_shape`]); it loads network files
    /// (`LUTNET`) for exactly these layers and geometries.
    Network(Vec<EngineConfig>, Vec<Spatial>),
    /// The same layers run in turn by one engine sized for the largest (the
    /// [`SequentialTop`](crate::sequential::SequentialTop), one bank per
    /// layer); it loads network files whose images are padded to that
    /// engine ([`lutgen_core::sequential::SequentialPlan::load_file`]).
    Sequential(Vec<EngineConfig>),
}

/// How the device is built: what it runs and the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    pub kind: DeviceKind,
    /// Board clock in Hz.
    pub clock_hz: u32,
    /// Serial baud rate; the bit time is `round(clock_hz / baud)` cycles.
    pub baud: u32,
}

impl DeviceConfig {
    /// A device for one engine, loading image files.
    pub fn engine(engine: EngineConfig, clock_hz: u32, baud: u32) -> Self {
        DeviceConfig {
            kind: DeviceKind::Engine(engine),
            clock_hz,
            baud,
        }
    }

    /// A device for a chain of dense layers, loading network files.
    pub fn network(layers: Vec<EngineConfig>, clock_hz: u32, baud: u32) -> Self {
        let spatial = vec![Spatial::DENSE; layers.len()];
        Self::network_spatial(layers, &spatial, clock_hz, baud)
    }

    /// A dataflow device for a chain of layers, layer `i` running as
    /// `spatial[i]` (its pad value is dropped: the device loads it).
    pub fn network_spatial(
        layers: Vec<EngineConfig>,
        spatial: &[Spatial],
        clock_hz: u32,
        baud: u32,
    ) -> Self {
        DeviceConfig {
            kind: DeviceKind::Network(layers, spatial.iter().map(Spatial::device_shape).collect()),
            clock_hz,
            baud,
        }
    }

    /// The device that runs `network` in `schedule`: a dataflow device for
    /// its layers and geometries, or a sequential one for its layers (which
    /// must then be dense: the caller checks with [`Network::require_dense`]).
    pub fn for_network(
        network: &Network,
        schedule: lutgen_core::sequential::Schedule,
        clock_hz: u32,
        baud: u32,
    ) -> Self {
        match schedule {
            lutgen_core::sequential::Schedule::Dataflow => {
                Self::network_spatial(network.configs(), network.spatial(), clock_hz, baud)
            }
            lutgen_core::sequential::Schedule::Sequential => {
                Self::sequential(network.configs(), clock_hz, baud)
            }
        }
    }

    /// A device running `layers` in turn on one engine (the sequential schedule).
    pub fn sequential(layers: Vec<EngineConfig>, clock_hz: u32, baud: u32) -> Self {
        DeviceConfig {
            kind: DeviceKind::Sequential(layers),
            clock_hz,
            baud,
        }
    }

    /// A network device for `layers` in `schedule`.
    pub fn scheduled(
        layers: Vec<EngineConfig>,
        schedule: lutgen_core::sequential::Schedule,
        clock_hz: u32,
        baud: u32,
    ) -> Self {
        match schedule {
            lutgen_core::sequential::Schedule::Dataflow => Self::network(layers, clock_hz, baud),
            lutgen_core::sequential::Schedule::Sequential => {
                Self::sequential(layers, clock_hz, baud)
            }
        }
    }

    /// The layers the device runs, in order (one for an engine device).
    pub fn layers(&self) -> &[EngineConfig] {
        match &self.kind {
            DeviceKind::Engine(engine) => std::slice::from_ref(engine),
            DeviceKind::Network(layers, _) | DeviceKind::Sequential(layers) => layers,
        }
    }

    /// How each layer runs across a feature map (every layer dense but on a
    /// dataflow network device with convolutions).
    pub fn spatial(&self) -> Vec<Spatial> {
        match &self.kind {
            DeviceKind::Network(_, spatial) => spatial.clone(),
            _ => vec![Spatial::DENSE; self.layers().len()],
        }
    }

    /// Bytes of one input vector: the first layer's input (its input map,
    /// HWC, for a convolution).
    pub fn input_len(&self) -> usize {
        self.spatial()[0].input_len(self.first())
    }

    /// Activations layer `layer` hands to the next (its output map after
    /// pooling, for a convolution): what a trace of it captures.
    pub fn traced_len(&self, layer: usize) -> usize {
        self.spatial()[layer].output_len(&self.layers()[layer])
    }

    /// How the layers run.
    pub fn schedule(&self) -> lutgen_core::sequential::Schedule {
        match self.kind {
            DeviceKind::Sequential(_) => lutgen_core::sequential::Schedule::Sequential,
            _ => lutgen_core::sequential::Schedule::Dataflow,
        }
    }

    /// The first layer: its input is the device's input vector.
    pub fn first(&self) -> &EngineConfig {
        &self.layers()[0]
    }

    /// The last layer: its outputs are a data reply's results.
    pub fn last(&self) -> &EngineConfig {
        self.layers().last().expect("a device has a layer")
    }

    /// Whether the device loads network files (rather than image files).
    pub fn is_network(&self) -> bool {
        matches!(
            self.kind,
            DeviceKind::Network(..) | DeviceKind::Sequential(_)
        )
    }

    /// Clock cycles per serial bit.
    pub fn clocks_per_bit(&self) -> u32 {
        (self.clock_hz + self.baud / 2) / self.baud.max(1)
    }

    /// Cycles without a byte after which a partial frame is dropped: 50 ms,
    /// and at least 64 byte times.
    pub fn frame_timeout_cycles(&self) -> u32 {
        (self.clock_hz / 20).max(640 * self.clocks_per_bit())
    }

    /// What the device says in its identify reply (the device must pass
    /// [`validate`](Self::validate)).
    pub fn ident(&self) -> Ident {
        match &self.kind {
            DeviceKind::Engine(engine) => Ident::new(engine, self.clock_hz, self.baud),
            DeviceKind::Network(layers, spatial) => {
                Ident::network_spatial(layers, spatial, self.clock_hz, self.baud)
                    .expect("DeviceConfig::validate checks the network's layers")
            }
            DeviceKind::Sequential(layers) => Ident::sequential(layers, self.clock_hz, self.baud)
                .expect("DeviceConfig::validate checks the sequential plan"),
        }
    }
}

/// A device that cannot be built, naming the problem and the fix.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceConfigError {
    #[error("invalid engine configuration: {0}")]
    Engine(#[from] lutgen_core::ConfigError),
    #[error("the network device cannot be built: {0}")]
    Network(#[from] crate::network::NetworkShapeError),
    #[error("the sequential device cannot be built: {0}")]
    Sequential(String),
    #[error(
        "a {clock_hz} Hz clock gives {clocks_per_bit} clock cycles per bit at {baud} baud; \
         the UART needs {min} to 65535: lower the baud rate or raise the clock"
    )]
    Baud {
        clock_hz: u32,
        baud: u32,
        clocks_per_bit: u32,
        min: u32,
    },
    #[error(
        "a {clock_hz} Hz clock gives {clocks_per_bit} clock cycles per bit for {baud} baud, \
         which is {actual} baud, {permille_off} per mille off; a UART tolerates {max} per mille: \
         choose a baud rate closer to {clock_hz} / n, or another clock"
    )]
    BaudMismatch {
        clock_hz: u32,
        baud: u32,
        clocks_per_bit: u32,
        actual: u32,
        permille_off: u64,
        max: u64,
    },
    #[error(
        "one vector ({input_dim} activations) does not fit a frame's {max}-byte payload; \
         the device protocol needs input_dim <= {max}"
    )]
    VectorTooLong { input_dim: usize, max: usize },
    #[error(
        "layer 0's input map is {height}x{width}x{channels} = {bytes} bytes, more than a data \
         frame's {max}-byte payload carries: the device takes one whole map per vector; use a \
         smaller input map (or a dense first layer of at most {max} inputs)"
    )]
    MapTooLong {
        height: usize,
        width: usize,
        channels: usize,
        bytes: usize,
        max: usize,
    },
    #[error("the device cannot load this configuration's images: {0}")]
    Image(String),
    #[error(
        "one vector's results ({bytes} bytes) do not fit a reply (at most 65535 bytes); use fewer outputs"
    )]
    ResultTooLong { bytes: usize },
}

impl DeviceConfig {
    /// Checks the layers and the link.
    pub fn validate(&self) -> Result<(), DeviceConfigError> {
        match &self.kind {
            DeviceKind::Engine(engine) => {
                engine.validate()?;
                lutgen_core::loader::Loader::new(engine)
                    .map_err(|e| DeviceConfigError::Image(e.to_string()))?;
            }
            DeviceKind::Network(layers, spatial) => {
                crate::network::validate_network(layers, spatial)?;
                lutgen_core::network_loader::NetworkLoader::with_spatial(layers, spatial)
                    .map_err(|e| DeviceConfigError::Image(e.to_string()))?;
            }
            DeviceKind::Sequential(layers) => {
                crate::network::validate_layers(layers)?;
                let plan = lutgen_core::sequential::SequentialPlan::new(layers)
                    .map_err(|e| DeviceConfigError::Sequential(e.to_string()))?;
                lutgen_core::network_loader::NetworkLoader::sequential(&plan)
                    .map_err(|e| DeviceConfigError::Image(e.to_string()))?;
            }
        }
        let cpb = self.clocks_per_bit();
        if self.baud == 0 || !(crate::uart::MIN_CLOCKS_PER_BIT..=65535).contains(&cpb) {
            return Err(DeviceConfigError::Baud {
                clock_hz: self.clock_hz,
                baud: self.baud,
                clocks_per_bit: cpb,
                min: crate::uart::MIN_CLOCKS_PER_BIT,
            });
        }
        // The rate the divider gives, against the one asked for.
        let (clock, baud, cpb) = (
            u64::from(self.clock_hz),
            u64::from(self.baud),
            u64::from(cpb),
        );
        let off = clock.abs_diff(cpb * baud);
        if off * 1000 > MAX_BAUD_ERROR_PERMILLE * cpb * baud {
            return Err(DeviceConfigError::BaudMismatch {
                clock_hz: self.clock_hz,
                baud: self.baud,
                clocks_per_bit: cpb as u32,
                actual: (clock / cpb) as u32,
                permille_off: (off * 1000).div_ceil(cpb * baud),
                max: MAX_BAUD_ERROR_PERMILLE,
            });
        }
        if let Some(conv) = self.spatial()[0].conv {
            let g = conv.geometry;
            if g.input_len() > protocol::MAX_PAYLOAD {
                return Err(DeviceConfigError::MapTooLong {
                    height: g.in_height,
                    width: g.in_width,
                    channels: g.in_channels,
                    bytes: g.input_len(),
                    max: protocol::MAX_PAYLOAD,
                });
            }
        }
        if self.first().input_dim > protocol::MAX_PAYLOAD {
            return Err(DeviceConfigError::VectorTooLong {
                input_dim: self.first().input_dim,
                max: protocol::MAX_PAYLOAD,
            });
        }
        if 4 * self.last().outputs > 0xFFFF {
            return Err(DeviceConfigError::ResultTooLong {
                bytes: 4 * self.last().outputs,
            });
        }
        Ok(())
    }
}

/// A small device for the parts' tests.
#[cfg(test)]
pub(crate) fn example() -> DeviceConfig {
    DeviceConfig::engine(
        EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 4,
            outputs: 8,
            lanes: 2,
            ..EngineConfig::default()
        },
        12_000_000,
        115_200,
    )
}

/// A small two-layer network device for the parts' tests.
#[cfg(test)]
pub(crate) fn network_example() -> DeviceConfig {
    let first = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 4,
        outputs: 8,
        lanes: 2,
        ..EngineConfig::default()
    };
    let second = EngineConfig {
        input_dim: 8,
        codebooks: 2,
        centroids: 4,
        outputs: 5,
        ..EngineConfig::default()
    };
    DeviceConfig::network(vec![first, second], 12_000_000, 115_200)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dividers that are exact or within 2% are accepted; the rest are refused, naming the
    /// rate the device would really run at.
    #[test]
    fn baud_rates_the_clock_cannot_make_are_refused() {
        let at = |clock_hz: u32, baud: u32| {
            DeviceConfig {
                clock_hz,
                baud,
                ..example()
            }
            .validate()
        };
        // 12 MHz: 3 Mbaud and 1.5 Mbaud divide exactly; 115200 is 104 cycles, 0.16% fast.
        for baud in [3_000_000, 1_500_000, 921_600, 115_200, 9600] {
            assert_eq!(at(12_000_000, baud), Ok(()), "{baud}");
        }
        let err = at(12_000_000, 2_500_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a 12000000 Hz clock gives 5 clock cycles per bit for 2500000 baud, which is \
             2400000 baud, 40 per mille off; a UART tolerates 20 per mille: choose a baud rate \
             closer to 12000000 / n, or another clock"
        );
        assert!(matches!(
            at(12_000_000, 4_000_000),
            Err(DeviceConfigError::Baud {
                clocks_per_bit: 3,
                ..
            })
        ));
        assert_eq!(at(48_000_000, 2_500_000), Ok(()));
    }
}
