//! The file a device loads, told apart by its magic: a table image (for an
//! engine device) or a compiled network (for a network device). One type, so
//! `lutgen board`, `load` and `run` take either and drive the device the
//! same way.

use crate::error::{CommandError, Error};
use lutgen_core::ident::Ident;
use lutgen_core::image::MAGIC as IMAGE_MAGIC;
use lutgen_core::network::NETWORK_MAGIC;
use lutgen_core::reference::InputError;
use lutgen_core::sequential::Schedule;
use lutgen_core::{EngineConfig, Image, Network, Reference};
use lutgen_driver::{Driver, DriverError, Transport};
use lutgen_hdl::device::DeviceConfig;
use std::path::Path;

/// The outputs a device must give for an input vector (or why the input is invalid).
pub type ExpectedOutputs<'a> = Box<dyn Fn(&[i8]) -> Result<Vec<i32>, InputError> + 'a>;

/// An image or a network, read from a file.
#[derive(Clone, Debug)]
pub enum DeviceFile {
    Image(Box<Image>),
    Network(Network),
}

impl DeviceFile {
    /// Reads `path`, an image (`\x89LUTGEN\n`) or a network (`\x89LUTNET\n`).
    pub fn read(path: &Path) -> Result<Self, CommandError> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.starts_with(&NETWORK_MAGIC) {
            let network = Network::from_bytes(&bytes).map_err(|e| {
                Error::Usage(format!("{}: not a valid network file: {e}", path.display()))
            })?;
            Ok(DeviceFile::Network(network))
        } else if bytes.starts_with(&IMAGE_MAGIC) {
            Ok(DeviceFile::Image(Box::new(Image::from_bytes(&bytes)?)))
        } else {
            Err(Error::Usage(format!(
                "{} is neither a table image nor a network file (it starts with {:02x?}); \
                 give a file written by `lutgen compile` or `lutgen image`",
                path.display(),
                &bytes[..bytes.len().min(8)]
            ))
            .into())
        }
    }

    /// Reads `path`, which must be a network file (`network`) or an image
    /// (not `network`): the other kind is refused, naming the flag it goes with.
    pub fn read_expecting(path: &Path, network: bool) -> Result<Self, CommandError> {
        let file = Self::read(path)?;
        match (&file, network) {
            (DeviceFile::Network(_), false) => Err(Error::Usage(format!(
                "{} is a network file: pass it with --network",
                path.display()
            ))
            .into()),
            (DeviceFile::Image(_), true) => Err(Error::Usage(format!(
                "{} is a table image, not a network file: pass it with --image",
                path.display()
            ))
            .into()),
            _ => Ok(file),
        }
    }

    /// The layers a device must be built for to load this file.
    pub fn layers(&self) -> Vec<EngineConfig> {
        match self {
            DeviceFile::Image(image) => vec![image.config().clone()],
            DeviceFile::Network(network) => network.configs(),
        }
    }

    /// The device that loads this file, on a `clock_hz` clock at `baud`; a
    /// network's layers (and convolutions) in `schedule` (an image's engine
    /// has one). The sequential schedule refuses a network with a
    /// convolution or pooling, naming the layer and `--schedule dataflow`.
    pub fn device(
        &self,
        schedule: Schedule,
        clock_hz: u32,
        baud: u32,
    ) -> Result<DeviceConfig, CommandError> {
        Ok(match self {
            DeviceFile::Image(image) => {
                DeviceConfig::engine(image.config().clone(), clock_hz, baud)
            }
            DeviceFile::Network(network) => {
                if schedule == Schedule::Sequential {
                    network
                        .require_dense()
                        .map_err(|e| Error::Usage(e.to_string()))?;
                }
                DeviceConfig::for_network(network, schedule, clock_hz, baud)
            }
        })
    }

    /// The first layer's configuration with the input length of one vector
    /// (a convolution's whole input map): what random vectors are drawn for.
    pub fn input_config(&self) -> EngineConfig {
        EngineConfig {
            input_dim: self.input_dim(),
            ..self.layers()[0].clone()
        }
    }

    /// Elements of one input vector.
    pub fn input_dim(&self) -> usize {
        match self {
            DeviceFile::Image(image) => image.config().input_dim,
            DeviceFile::Network(network) => network.input_dim(),
        }
    }

    /// Results of one vector.
    pub fn outputs(&self) -> usize {
        match self {
            DeviceFile::Image(image) => image.config().outputs,
            DeviceFile::Network(network) => network.outputs(),
        }
    }

    /// Refuses, before any data moves, a device built for something else.
    pub fn check<T: Transport>(&self, driver: &mut Driver<T>) -> Result<Ident, DriverError> {
        match self {
            DeviceFile::Image(image) => driver.check_image(image.config()),
            DeviceFile::Network(network) => driver.check_network(network),
        }
    }

    /// The CRC the device behind `driver` reports in its status once it
    /// holds this file: an image's payload CRC, a network file's own (its
    /// last 4 bytes; on a sequential device, the padded file's).
    pub fn crc<T: Transport>(&self, driver: &mut Driver<T>) -> Result<u32, DriverError> {
        Ok(lutgen_driver::loaded_crc(&match self {
            DeviceFile::Image(image) => image.to_bytes(),
            DeviceFile::Network(network) => driver.network_file(network)?.1,
        }))
    }

    /// Writes the file into the device; `progress(done, total)` in bytes.
    pub fn load<T: Transport>(
        &self,
        driver: &mut Driver<T>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), DriverError> {
        match self {
            DeviceFile::Image(image) => driver.load(image, progress),
            DeviceFile::Network(network) => driver.load_network(network, progress),
        }
    }

    /// What the device must answer for an input vector: the engine's
    /// outputs, or the last layer's outputs of the whole integer pipeline.
    pub fn reference(&self) -> ExpectedOutputs<'_> {
        match self {
            DeviceFile::Image(image) => {
                let reference = Reference::new(image);
                Box::new(move |x| reference.outputs(x))
            }
            DeviceFile::Network(network) => Box::new(move |x| network.infer(x).map(|i| i.outputs)),
        }
    }
}
