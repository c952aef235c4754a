// possdk Android demo: the `possdk` library module (Kotlin API + libpossdk_jni.so) and the `app` module.
// Native libraries come from ../scripts/android.sh (or `./build.sh android`), which fills possdk/src/main/jniLibs.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.0.21" apply false
}
