//! One CUDA device per ordinal: its context, stream, cuBLAS handle, and the kernel modules
//! NVRTC compiled for it (once per process, for the device's own architecture).
//!
//! Probing never reaches cudarc's panics: [`probe`] asks `is_culib_present()` before any
//! driver call, and NVRTC / cuBLAS are checked the same way before their first use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, LaunchConfig};
use cudarc::nvrtc::Ptx;

use super::kernels;
use crate::{Error, Result};

/// Threads per block of the elementwise kernels.
pub(crate) const BLOCK: u32 = 256;

/// A CUDA device Arc has opened.
pub(crate) struct CudaDev {
    pub(crate) ordinal: usize,
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    /// `compute_XY` for NVRTC, from the device's compute capability.
    arch: &'static str,
    modules: Mutex<HashMap<String, Arc<CudaModule>>>,
    blas: OnceLock<std::result::Result<Arc<CudaBlas>, String>>,
}

impl std::fmt::Debug for CudaDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cuda:{} ({})", self.ordinal, self.arch)
    }
}

/// How many CUDA devices the driver reports, or why there are none usable.
///
/// The answer is computed once per process.
pub(crate) fn probe() -> std::result::Result<usize, String> {
    static PROBE: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            // SAFETY: only tries to dlopen the driver library; no symbol is called.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return Err("no CUDA driver library (libcuda.so) could be loaded".into());
            }
            let n = CudaContext::device_count().map_err(|e| format!("the CUDA driver failed to start: {e:?}"))?;
            if n <= 0 {
                return Err("the CUDA driver reports no device".into());
            }
            Ok(n as usize)
        })
        .clone()
}

/// The opened device `ordinal`, opening it on first use.
pub(crate) fn get(ordinal: usize) -> Result<Arc<CudaDev>> {
    static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaDev>>>> = OnceLock::new();
    let unavailable = |reason: String| Error::CudaUnavailable { device: format!("cuda:{ordinal}"), reason };
    let count = probe().map_err(unavailable)?;
    if ordinal >= count {
        return Err(unavailable(format!("the machine has {count} CUDA device(s), numbered from 0")));
    }
    let mut map = DEVICES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dev) = map.get(&ordinal) {
        return Ok(dev.clone());
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| unavailable(format!("{e:?}")))?;
    let (major, minor) = ctx.compute_capability().map_err(|e| unavailable(format!("{e:?}")))?;
    let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
    let stream = ctx.default_stream();
    let dev = Arc::new(CudaDev { ordinal, ctx, stream, arch, modules: Mutex::default(), blas: OnceLock::new() });
    map.insert(ordinal, dev.clone());
    Ok(dev)
}

/// Whether NVRTC can be loaded (kernels are compiled at run time).
pub(crate) fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles `source` to PTX for `arch` (`compute_XY`), returning the PTX and NVRTC's log
/// (warnings). An error carries the log.
pub(crate) fn compile(name: &str, source: &str, arch: &'static str) -> Result<(Ptx, String)> {
    if !nvrtc_present() {
        return Err(Error::CudaUnavailable {
            device: "nvrtc".into(),
            reason: "the NVRTC library (libnvrtc.so) could not be loaded; install the CUDA toolkit or \
                     the `nvidia-cuda-nvrtc` wheel and put its lib folder on LD_LIBRARY_PATH"
                .into(),
        });
    }
    compile_with_log(&format!("{name}.cu"), source, arch)
        .map_err(|log| Error::CudaCompile { kernel: name.to_owned(), log })
}

/// NVRTC through cudarc's `result` layer, so that the log of a *successful* compile (its
/// warnings) is kept too.
fn compile_with_log(file: &str, source: &str, arch: &str) -> std::result::Result<(Ptx, String), String> {
    use cudarc::nvrtc::result as nv;
    use std::ffi::{CStr, CString};
    let src = CString::new(source).map_err(|_| "the source contains a NUL byte".to_owned())?;
    let file = CString::new(file).map_err(|_| "the file name contains a NUL byte".to_owned())?;
    let options = [format!("--gpu-architecture={arch}"), "--std=c++17".to_owned()];
    let prog = nv::create_program(&src, Some(&file)).map_err(|e| format!("{e:?}"))?;
    // SAFETY: `prog` was just created and is destroyed below on every path.
    let compiled = unsafe { nv::compile_program(prog, &options) };
    let log = unsafe { nv::get_program_log(prog) }
        .map(|raw| unsafe { CStr::from_ptr(raw.as_ptr()) }.to_string_lossy().trim().to_owned())
        .unwrap_or_default();
    let out = match compiled {
        Err(e) => Err(if log.is_empty() { format!("{e:?}") } else { log.clone() }),
        Ok(()) => unsafe { nv::get_ptx(prog) }.map_err(|e| format!("{e:?}")),
    };
    let _ = unsafe { nv::destroy_program(prog) };
    let ptx = out?;
    // `get_ptx` returns the NUL-terminated image as raw chars.
    let bytes: Vec<u8> = ptx.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    Ok((Ptx::from_src(String::from_utf8_lossy(&bytes).into_owned()), log))
}

impl CudaDev {
    /// The kernel `func` of the built-in module `module` (see [`kernels::SOURCES`]).
    pub(crate) fn func(&self, module: &'static str, func: &str) -> Result<CudaFunction> {
        let m = self.module(module, || {
            kernels::source(module).ok_or_else(|| Error::Cuda {
                op: func.to_owned(),
                message: format!("no built-in kernel module `{module}`"),
            })
        })?;
        self.load(&m, module, func)
    }

    /// The kernel `func` of a plugin's own source, compiled once per device under `key`.
    pub(crate) fn custom_func(&self, key: &str, source: &str, func: &str) -> Result<CudaFunction> {
        let m = self.module(key, || Ok(source.to_owned()))?;
        self.load(&m, key, func)
    }

    fn load(&self, m: &Arc<CudaModule>, module: &str, func: &str) -> Result<CudaFunction> {
        m.load_function(func)
            .map_err(|e| Error::Cuda { op: func.to_owned(), message: format!("kernel not found in `{module}`: {e:?}") })
    }

    fn module(&self, key: &str, source: impl FnOnce() -> Result<String>) -> Result<Arc<CudaModule>> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(key) {
            return Ok(m.clone());
        }
        let (ptx, _log) = compile(key, &source()?, self.arch)?;
        let m = self
            .ctx
            .load_module(ptx)
            .map_err(|e| Error::Cuda { op: key.to_owned(), message: format!("loading the compiled module: {e:?}") })?;
        modules.insert(key.to_owned(), m.clone());
        Ok(m)
    }

    /// The device's cuBLAS handle (on its stream), created on first use.
    pub(crate) fn blas(&self) -> Result<Arc<CudaBlas>> {
        self.blas
            .get_or_init(|| {
                // SAFETY: only tries to dlopen the library.
                if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                    return Err("the cuBLAS library (libcublas.so) could not be loaded".into());
                }
                CudaBlas::new(self.stream.clone()).map(Arc::new).map_err(|e| format!("{e:?}"))
            })
            .clone()
            .map_err(|reason| Error::CudaUnavailable { device: format!("cuda:{} (cuBLAS)", self.ordinal), reason })
    }
}

/// A 1-D launch over `n` elements: [`BLOCK`] threads a block, grid-stride loops in the kernel.
pub(crate) fn launch_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 65_535) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// One block of [`BLOCK`] threads per row, for `rows` rows (row kernels loop over columns).
pub(crate) fn launch_rows(rows: usize) -> LaunchConfig {
    let blocks = rows.clamp(1, 65_535) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// A driver or cuBLAS error as an [`Error::Cuda`] naming the op.
pub(crate) fn cuda_err(op: &str) -> impl FnOnce(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::Cuda { op: op.to_owned(), message: format!("{e:?}") }
}
