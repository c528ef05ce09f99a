// Bindings of batch normalisation (fastnn/batchnorm.h). Every argument is
// checked here, before a kernel touches memory; messages name the op and the
// argument. Optional arrays are None.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "convert.h"
#include "fastnn/batchnorm.h"
#include "fastnn/errors.h"
#include "fastnn/view.h"

namespace py = pybind11;

namespace fastnn::bindings {

namespace {

struct Arg {
    const char* name;
    View view;
    bool output;
};

// Collects the arguments, checks each and the aliasing between them.
class Args {
public:
    explicit Args(const char* op) : op_(op) { args_.reserve(8); }  // pointers into args_ stay valid

    // x-like: float32, C-contiguous, at least 1-D; the first one sets C and the device.
    const View* data(const char* name, const py::handle& obj, bool output, const View* like = nullptr) {
        if (obj.is_none()) return nullptr;
        View v = to_view(op_, name, obj);
        if (like) {
            check_elementwise(op_, name, v, "x", *like);
        } else {
            check_dtype(op_, name, v, DType::float32);
            if (v.ndim < 1)
                throw ValueError(message(op_, ": argument '", name, "' must have at least 1 dimension (channels "
                                         "last), got a 0-d array"));
            check_contiguous(op_, name, v);
            check_aligned(op_, name, v);
        }
        return add(name, std::move(v), output);
    }

    // One value per channel: float32, shape (C,), on x's device.
    const View* vec(const char* name, const py::handle& obj, bool output, const View& x) {
        if (obj.is_none()) return nullptr;
        View v = to_view(op_, name, obj);
        check_dtype(op_, name, v, DType::float32);
        const std::int64_t C = x.shape[x.ndim - 1];
        if (v.ndim != 1 || v.shape[0] != C)
            throw ValueError(message(op_, ": argument '", name, "' must have shape (", C, ",) (one value per channel "
                                     "of x ", shape_str(x), "), got ", shape_str(v)));
        check_contiguous(op_, name, v);
        check_aligned(op_, name, v);
        check_same_device(op_, name, v, "x", x);
        return add(name, std::move(v), output);
    }

    // Outputs are writable and share no memory with any other argument
    // (`in_place` names an input an output may be exactly).
    void check_aliasing(const char* out_name = nullptr, const char* in_place = nullptr) {
        for (const Arg& o : args_) {
            if (!o.output) continue;
            check_writable(op_, o.name, o.view);
            for (const Arg& other : args_) {
                if (&other == &o) continue;
                if (out_name && in_place && std::string_view(o.name) == out_name &&
                    std::string_view(other.name) == in_place && o.view.data == other.view.data)
                    continue;
                check_no_overlap(op_, o.name, o.view, other.name, other.view);
            }
        }
    }

private:
    const View* add(const char* name, View v, bool output) {
        args_.push_back(Arg{name, std::move(v), output});
        return &args_.back().view;
    }
    const char* op_;
    std::vector<Arg> args_;
};

void check_scalars(const char* op, double momentum, double eps) {
    if (!std::isfinite(momentum))
        throw ValueError(message(op, ": momentum must be a finite number, got ", momentum));
    if (!(std::isfinite(eps) && eps >= 0.0))
        throw ValueError(message(op, ": epsilon must be a finite number >= 0, got ", eps));
}

void train_forward(const py::handle& x_obj, const py::handle& gamma, const py::handle& beta, const py::handle& out,
                   const py::handle& save_mean, const py::handle& save_invstd, const py::handle& running_mean,
                   const py::handle& running_var, double momentum, double eps, std::uintptr_t stream) {
    const char* op = "batch_norm";
    Args args(op);
    BatchNormArgs a;
    a.x = args.data("x", x_obj, false);
    if (!a.x) throw TypeError(message(op, ": argument 'x' must be an array, got None"));
    const View& x = *a.x;
    if (x.numel() == 0 && x.shape[x.ndim - 1] != 0)
        throw ValueError(message(op, ": training needs at least one sample to take statistics over, got x of shape ",
                                 shape_str(x)));
    a.gamma = args.vec("gamma", gamma, false, x);
    a.beta = args.vec("beta", beta, false, x);
    a.y = args.data("out", out, true, &x);
    a.mean = args.vec("save_mean", save_mean, true, x);
    a.invstd = args.vec("save_invstd", save_invstd, true, x);
    a.running_mean = args.vec("running_mean", running_mean, true, x);
    a.running_var = args.vec("running_var", running_var, true, x);
    if (!a.y || !a.mean || !a.invstd)
        throw TypeError(message(op, ": 'out', 'save_mean' and 'save_invstd' must be arrays, not None"));
    args.check_aliasing();
    check_scalars(op, momentum, eps);
    a.momentum = momentum;
    a.eps = eps;
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::batchnorm_train_forward(a);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::batchnorm_train_forward(a, stream));
}

void infer_forward(const py::handle& x_obj, const py::handle& gamma, const py::handle& beta, const py::handle& mean,
                   const py::handle& var, const py::handle& out, const py::handle& save_invstd, double eps,
                   std::uintptr_t stream) {
    const char* op = "batch_norm";
    Args args(op);
    BatchNormArgs a;
    a.x = args.data("x", x_obj, false);
    if (!a.x) throw TypeError(message(op, ": argument 'x' must be an array, got None"));
    const View& x = *a.x;
    a.gamma = args.vec("gamma", gamma, false, x);
    a.beta = args.vec("beta", beta, false, x);
    a.mean = args.vec("running_mean", mean, false, x);
    a.var = args.vec("running_var", var, false, x);
    a.y = args.data("out", out, true, &x);
    a.invstd = args.vec("save_invstd", save_invstd, true, x);
    if (!a.y || !a.mean || !a.var)
        throw TypeError(message(op, ": 'running_mean', 'running_var' and 'out' must be arrays in inference, "
                                    "not None"));
    args.check_aliasing();
    check_scalars(op, 0.0, eps);
    a.eps = eps;
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::batchnorm_infer_forward(a);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::batchnorm_infer_forward(a, stream));
}

void backward(const py::handle& x_obj, const py::handle& dy, const py::handle& mean, const py::handle& invstd,
              const py::handle& gamma, const py::handle& dx, const py::handle& dgamma, const py::handle& dbeta,
              bool training, std::uintptr_t stream) {
    const char* op = "batch_norm_backward";
    Args args(op);
    BatchNormGradArgs a;
    a.x = args.data("x", x_obj, false);
    if (!a.x) throw TypeError(message(op, ": argument 'x' must be an array, got None"));
    const View& x = *a.x;
    a.dy = args.data("grad", dy, false, &x);
    a.mean = args.vec("mean", mean, false, x);
    a.invstd = args.vec("invstd", invstd, false, x);
    a.gamma = args.vec("gamma", gamma, false, x);
    a.dx = args.data("out", dx, true, &x);
    a.dgamma = args.vec("dgamma", dgamma, true, x);
    a.dbeta = args.vec("dbeta", dbeta, true, x);
    if (!a.dy || !a.mean || !a.invstd)
        throw TypeError(message(op, ": 'grad', 'mean' and 'invstd' must be arrays, not None"));
    args.check_aliasing("out", "grad");  // dx may overwrite grad in place
    a.training = training;
    if (x.device == Device::cpu) {
        py::gil_scoped_release release;
        cpu::batchnorm_backward(a);
        return;
    }
    FASTNN_CUDA_ONLY(op, stream, cuda::batchnorm_backward(a, stream));
}

}  // namespace

void bind_batchnorm(py::module_& m) {
    m.def("batchnorm_train_forward", &train_forward, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("out"),
          py::arg("save_mean"), py::arg("save_invstd"), py::arg("running_mean"), py::arg("running_var"),
          py::arg("momentum"), py::arg("epsilon"), py::arg("stream") = 0,
          "Batch normalisation of x (..., C) with the batch statistics (biased variance); writes the batch mean "
          "and 1/sqrt(var + eps) and updates running_mean / running_var (or None) in place as "
          "running * momentum + batch * (1 - momentum). gamma / beta may be None.");
    m.def("batchnorm_infer_forward", &infer_forward, py::arg("x"), py::arg("gamma"), py::arg("beta"),
          py::arg("running_mean"), py::arg("running_var"), py::arg("out"), py::arg("save_invstd"), py::arg("epsilon"),
          py::arg("stream") = 0,
          "Batch normalisation of x (..., C) with the given mean and variance; save_invstd (or None) receives "
          "1/sqrt(var + eps).");
    m.def("batchnorm_backward", &backward, py::arg("x"), py::arg("grad"), py::arg("mean"), py::arg("invstd"),
          py::arg("gamma"), py::arg("out"), py::arg("dgamma"), py::arg("dbeta"), py::arg("training"),
          py::arg("stream") = 0,
          "Fused batch-norm backward: dgamma, dbeta (or None) and dx (out, or None; may be grad) from x, the "
          "saved mean and invstd. training: through the batch statistics; otherwise dx = gamma * invstd * grad.");
}

}  // namespace fastnn::bindings
