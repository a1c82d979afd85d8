// Rounds ships no Rive runtime (see assets/index.html). Flet's client loads this file instead of
// the CDN copy, calls window.RiveNative(), and on rejection records Rive as unavailable.
window.RiveNative = function () {
  return Promise.reject(new Error("Rive runtime is not bundled with Rounds"));
};
