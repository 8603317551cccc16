"""The datasets: where Fashion-MNIST and CIFAR-100 are found on this machine (a data folder, the Keras cache, Debian's
package, or the download), how each real file format is read, and what each dataset is (classes, image shape).

Owns nothing else. May import: numpy and the standard library only; nothing else of `core`.
"""
