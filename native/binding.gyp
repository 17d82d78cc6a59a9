{
  "variables": {
    # librbd is optional: the tsemu_rbd addon (RBD images) is built only where librbd-dev
    # and libradospp-dev (the C++ headers librbd.hpp includes) are installed; without them
    # tsemu still builds and says that RBD is unavailable.
    "has_librbd": "<!(node -p \"['/usr/include/rbd/librbd.hpp', '/usr/include/rados/librados.hpp'].every((f) => require('fs').existsSync(f)) ? 1 : 0\")"
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  },
  "targets": [
    {
      "target_name": "tsemu_native",
      "sources": ["src/addon.cc", "src/shm.cc", "src/futex.cc", "src/process.cc", "src/socket-writer.cc", "src/file-writer.cc", "src/file-read.cc"]
    }
  ],
  "conditions": [
    ["has_librbd==1", {
      "targets": [
        {
          "target_name": "tsemu_rbd",
          "sources": ["src/rbd.cc", "src/rbd-image.cc"],
          "libraries": ["-lrbd", "-lrados"]
        }
      ]
    }]
  ]
}
