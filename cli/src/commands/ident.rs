//! `lutgen ident`: who is on the port, and which engine (or network of layers) it carries.

use crate::error::CommandError;
use crate::output::print_json;
use crate::port::PortArgs;
use clap::Args;
use lutgen_driver::describe_config;

/// Ask the device for its protocol version, engine configuration and hash.
#[derive(Args, Debug)]
pub struct IdentArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &IdentArgs) -> Result<bool, CommandError> {
    let mut driver = args.port.open()?;
    let ident = driver.identify()?;
    if args.json {
        print_json(&ident);
    } else {
        println!(
            "{}: lutgen protocol v{}",
            args.port.port, ident.protocol_version
        );
        match &ident.layers {
            None => println!("engine: {}", describe_config(&ident.config)),
            Some(layers) => {
                println!(
                    "network device, {} layers (hash {:#010x}); it loads network files",
                    layers.len(),
                    ident.config_hash
                );
                let spatial = ident.all_spatial();
                for (i, layer) in layers.iter().enumerate() {
                    println!("layer {i}: {}", describe_config(layer));
                    if !spatial[i].is_dense() {
                        println!("  runs as {}", spatial[i].describe());
                    }
                }
                if let Some(conv) = spatial[0].conv {
                    let g = conv.geometry;
                    println!(
                        "input: a {}x{}x{} map (HWC), {} bytes per vector",
                        g.in_height,
                        g.in_width,
                        g.in_channels,
                        ident.input_dim()
                    );
                }
                match &ident.sequential_engine {
                    Some(engine) => println!(
                        "schedule: sequential, one engine runs the layers in turn ({} banks): {}; \
                         every layer's image is loaded padded to it",
                        layers.len(),
                        describe_config(engine)
                    ),
                    None => println!("schedule: dataflow, one engine per layer"),
                }
            }
        }
        println!(
            "link: {} baud, {} Hz clock; buffer {} bytes, frames up to {} bytes, {} queued jobs",
            ident.baud,
            ident.clock_hz,
            ident.buffer_bytes,
            ident.max_payload,
            ident.job_queue_depth
        );
        match &ident.layers {
            None => println!("image: {} bytes", ident.image_bytes),
            Some(_) => println!("network file: at most {} bytes", ident.image_bytes),
        }
    }
    Ok(true)
}
