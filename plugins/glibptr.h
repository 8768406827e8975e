// Owning pointers for the GLib, GIO and GStreamer objects the elements and the
// launcher hold: every such resource is released by a destructor, so that no
// early return can leak it.
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include <memory>
#include <new>
#include <utility>

namespace imagestream {

struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
// Any GObject (GstObject included: unref is what both need once sunk).
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

// unique_ptr deleters for GLib types that are not GObjects.
template <typename T, void (*Free)(T *)>
struct GFree {
  void operator()(T *p) const {
    if (p) Free(p);
  }
};
using MainContextPtr = std::unique_ptr<GMainContext, GFree<GMainContext, g_main_context_unref>>;
using MainLoopPtr = std::unique_ptr<GMainLoop, GFree<GMainLoop, g_main_loop_unref>>;
using BytesPtr = std::unique_ptr<GBytes, GFree<GBytes, g_bytes_unref>>;
using ErrorPtr = std::unique_ptr<GError, GFree<GError, g_error_free>>;

inline void unref_caps(GstCaps *caps) { gst_caps_unref(caps); }
using CapsPtr = std::unique_ptr<GstCaps, GFree<GstCaps, unref_caps>>;

// A source attached to a context: destroyed (detached) and unreffed together.
inline void destroy_source(GSource *s) {
  g_source_destroy(s);
  g_source_unref(s);
}
using SourcePtr = std::unique_ptr<GSource, GFree<GSource, destroy_source>>;

// Takes a GError out-parameter's result: `ErrorPtr e; f(..., out(e))`.
class ErrorOut {
 public:
  explicit ErrorOut(ErrorPtr &owner) : owner_(owner) {}
  ~ErrorOut() { owner_.reset(error_); }
  operator GError **() { return &error_; }

 private:
  ErrorPtr &owner_;
  GError *error_ = nullptr;
};
inline ErrorOut out(ErrorPtr &owner) { return ErrorOut(owner); }

// The C++ part of a GObject instance struct: GObject allocates instances as
// zeroed C memory, so a C++ member is constructed in instance_init and
// destroyed in finalize, with these two calls.
template <typename T, typename... Args>
void construct_member(T *member, Args &&...args) {
  new (member) T(std::forward<Args>(args)...);
}
template <typename T>
void destroy_member(T *member) {
  member->~T();
}

}  // namespace imagestream
